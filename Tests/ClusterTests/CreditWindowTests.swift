import SpaceTime
import Testing

@testable import Cluster

@Suite struct CreditWindowTests {
    @Test func senderStopsAtTheGrantAndResumesOnTheNext() throws {
        var sender = CreditWindow.Sender()
        #expect(!sender.canSend(bytes: 1), "no credit before the first grant")
        try sender.receive(.init(messages: 2, bytes: 100))
        #expect(sender.canSend(bytes: 60))
        try sender.sent(bytes: 60)
        #expect(!sender.canSend(bytes: 41))
        #expect(sender.canSend(bytes: 40))
        try sender.sent(bytes: 40)
        #expect(!sender.canSend(bytes: 0), "message credit used up")
        #expect(throws: ProtocolError.self) { try sender.sent(bytes: 1) }
        #expect(sender.sentMessages == 2 && sender.sentBytes == 100)
        try sender.receive(.init(messages: 4, bytes: 300))
        #expect(sender.availableMessages == 2 && sender.availableBytes == 200)
    }

    @Test func grantsAreCumulativeSoDuplicatesDoNotInflate() throws {
        var sender = CreditWindow.Sender()
        let g = CreditWindow.Grant(messages: 3, bytes: 30)
        try sender.receive(g)
        try sender.receive(g)
        #expect(sender.availableMessages == 3)
        do {
            try sender.receive(.init(messages: 2, bytes: 40))
            Issue.record("decreasing grant accepted")
        } catch {
            #expect(error.code == .outOfRange)
        }
    }

    @Test func receiverRejectsMessagesBeyondCredit() throws {
        var r = CreditWindow.Receiver(windowMessages: 2, windowBytes: 100)
        #expect(r.initialGrant == .init(messages: 2, bytes: 100))
        try r.received(bytes: 70)
        do {
            try r.received(bytes: 31)
            Issue.record("over-credit message accepted")
        } catch {
            #expect(error.code == .creditExceeded)
        }
        try r.received(bytes: 30)
        #expect(throws: ProtocolError.self) { try r.received(bytes: 0) }
        #expect(r.bufferedMessages == 2 && r.bufferedBytes == 100)
    }

    @Test func receiverRegrantsAfterHalfTheWindowIsConsumed() throws {
        var r = CreditWindow.Receiver(windowMessages: 4, windowBytes: 1000)
        for _ in 0..<4 { try r.received(bytes: 10) }
        do {
            let g = r.consumed(bytes: 10)
            #expect(g == nil)
        }
        do {
            let g = r.consumed(bytes: 10)
            #expect(g == .init(messages: 6, bytes: 1020), "2 of 4 messages consumed")
        }
        do {
            let g = r.consumed(bytes: 10)
            #expect(g == nil)
        }
        do {
            let g = r.consumed(bytes: 10)
            #expect(g == .init(messages: 8, bytes: 1040))
        }
    }

    @Test func consumingMoreThanReceivedIsIgnored() throws {
        var r = CreditWindow.Receiver(windowMessages: 2, windowBytes: 100)
        do {
            let g = r.consumed(bytes: 10)
            #expect(g == nil)
        }
        #expect(r.consumedMessages == 0)
    }

    @Test func regrantOnBytesWhenMessagesAreLarge() throws {
        var r = CreditWindow.Receiver(windowMessages: 100, windowBytes: 1000)
        try r.received(bytes: 600)
        do {
            let g = r.consumed(bytes: 600)
            #expect(g == .init(messages: 101, bytes: 1600))
        }
    }

    /// Sender and receiver run against each other with a seeded random
    /// consumer: the receiver's buffer never exceeds its window and every
    /// message gets through.
    @Test func simulatedStreamStaysWithinTheWindow() throws {
        var rng = SplitMix64(seed: 11)
        var sender = CreditWindow.Sender()
        var receiver = CreditWindow.Receiver(windowMessages: 8, windowBytes: 64 << 10)
        try sender.receive(receiver.initialGrant)
        var inFlight: [Int] = []
        var buffered: [Int] = []
        var toSend = (0..<2000).map { _ in Int(rng.next() % (16 << 10)) + 1 }
        var delivered = 0
        var maxBuffered: UInt64 = 0
        while delivered < 2000 {
            if let next = toSend.first, sender.canSend(bytes: next) {
                try sender.sent(bytes: next)
                inFlight.append(toSend.removeFirst())
            }
            if !inFlight.isEmpty, rng.next() % 2 == 0 {
                let b = inFlight.removeFirst()
                try receiver.received(bytes: b)
                buffered.append(b)
                maxBuffered = max(maxBuffered, receiver.bufferedBytes)
            }
            if !buffered.isEmpty, rng.next() % 3 == 0 {
                let b = buffered.removeFirst()
                delivered += 1
                if let grant = receiver.consumed(bytes: b) { try sender.receive(grant) }
            }
        }
        #expect(maxBuffered <= 64 << 10)
        #expect(receiver.consumedMessages == 2000)
    }
}
