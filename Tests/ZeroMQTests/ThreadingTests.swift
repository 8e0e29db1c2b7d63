import Foundation
import TestSupport
import Testing

@testable import ZeroMQ

/// The pattern the Cluster module uses: a socket loop on its own thread,
/// fed by a Mailbox and reporting through an AsyncStream.
@Suite struct ThreadingTests {
    /// What the program asks the coordinator loop to send.
    struct Outgoing: Sendable {
        var peer: [UInt8]
        var body: String
    }

    @Test func socketLoopOnADedicatedThreadBridgedToAsyncCode() async throws {
        let context = try Context()
        let outbox = try Mailbox<Outgoing>()
        let (inbound, inboundContinuation) = AsyncStream.makeStream(of: Message.self)
        let endpointBox = Box<String?>(nil)

        let coordinator = SocketThread(name: "test-coordinator") { thread in
            let router = try context.socket(.router)
            defer { router.close() }
            try router.set(.routerMandatory, true)
            try router.bind("tcp://127.0.0.1:*")
            endpointBox.withLock { $0 = try? router.lastEndpoint() }
            var poller = Poller()
            let fromPeers = poller.add(router)
            let fromProgram = poller.add(outbox)
            var message = Message()
            while !thread.isStopRequested && !outbox.isClosed {
                guard try poller.poll(timeout: .milliseconds(100)) > 0 else { continue }
                if poller.isReadable(fromPeers) {
                    while try router.receive(into: &message, timeout: .zero) {
                        inboundContinuation.yield(message)
                    }
                }
                if poller.isReadable(fromProgram) {
                    try outbox.drain { try router.send(Message($0.peer, Array($0.body.utf8))) }
                }
            }
            inboundContinuation.finish()
        }

        #expect(eventually { endpointBox.current != nil })
        let endpoint = try #require(endpointBox.current)

        // A worker: DEALER on its own thread, echoes "task N" as "result N".
        let worker = SocketThread(name: "test-worker") { thread in
            let dealer = try context.socket(.dealer)
            defer { dealer.close() }
            try dealer.set(.routingID, Array("w1".utf8))
            try dealer.connect(endpoint)
            try dealer.send("ready")
            var message = Message()
            while !thread.isStopRequested {
                guard try dealer.receive(into: &message, timeout: .milliseconds(100)) else { continue }
                let text = message.string(at: 0)
                if text == "stop" { return }
                try dealer.send(text.replacingOccurrences(of: "task", with: "result"))
            }
        }

        var results: [String] = []
        for await message in inbound {
            #expect(message.string(at: 0) == "w1")
            let body = message.string(at: 1)
            if body == "ready" {
                for n in 0..<50 { outbox.send(Outgoing(peer: Array("w1".utf8), body: "task \(n)")) }
            } else {
                results.append(body)
                if results.count == 50 {
                    outbox.send(Outgoing(peer: Array("w1".utf8), body: "stop"))
                    outbox.close()
                }
            }
        }
        #expect(results == (0..<50).map { "result \($0)" })
        try await coordinator.finished()
        try await worker.finished()
        context.terminate()
    }

    @Test func mailboxWakesAPollerAndDrainsInOrder() throws {
        let mailbox = try Mailbox<Int>()
        var poller = Poller()
        let index = poller.add(mailbox)
        #expect(try poller.poll(timeout: .milliseconds(20)) == 0)

        let producer = Thread { for n in 0..<1000 { mailbox.send(n) } }
        producer.start()
        var received: [Int] = []
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while received.count < 1000 && ContinuousClock.now < deadline {
            if try poller.poll(timeout: .milliseconds(100)) > 0 && poller.isReadable(index) {
                mailbox.drain { received.append($0) }
            }
        }
        #expect(received == Array(0..<1000))
        mailbox.close()
        #expect(!mailbox.send(1))
        #expect(try poller.poll(timeout: .seconds(5)) == 1, "close wakes the poller")
    }

    @Test func monitorEventsArriveOnAnAsyncStream() async throws {
        let context = try Context()
        let router = try context.socket(.router)
        let events = try router.monitorEvents([.listening, .accepted, .disconnected])
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint()

        let dealer = try context.socket(.dealer)
        try dealer.connect(endpoint)
        var kinds: [MonitorEvent.Kind] = []
        for await event in events {
            kinds.append(event.kind)
            if event.kind == .accepted { dealer.close() }
            if event.kind == .disconnected { router.close() }  // ends the stream
        }
        #expect(kinds == [.listening, .accepted, .disconnected])
    }

    @Test func usingOneSocketFromTwoThreadsAtOnceTraps() async {
        await #expect(processExitsWith: .failure) {
            let context = try Context()
            let socket = try context.socket(.pull)
            try socket.bind("inproc://trap")
            nonisolated(unsafe) let shared = socket
            let blocked = Thread { _ = try? shared.receive(timeout: nil) }
            blocked.start()
            usleep(200_000)
            try socket.set(.linger, 0)  // second thread while the first is inside receive
        }
    }
}
