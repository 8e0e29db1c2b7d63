import Foundation
import Testing

@testable import ZeroMQ

@Suite struct RoundTripTests {
    /// ROUTER/DEALER multipart round trip; returns after checking the echo.
    private func routerDealerRoundTrip(bindTo endpoint: String) throws {
        let context = try Context()
        let router = try context.socket(.router)
        try router.set(.routerMandatory, true)
        try router.bind(endpoint)
        let resolved = try router.lastEndpoint()
        if endpoint.hasSuffix(":*") {
            #expect(resolved.hasPrefix("tcp://127.0.0.1:"))
            #expect(!resolved.hasSuffix(":*"))
        }

        let dealer = try context.socket(.dealer)
        try dealer.set(.routingID, bytes("worker-1"))
        try dealer.connect(resolved)

        let payload = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try dealer.send(Message(bytes("task"), [], payload))

        var request = Message()
        #expect(try router.receive(into: &request, timeout: .seconds(10)))
        #expect(request.count == 4)
        #expect(request.string(at: 0) == "worker-1")
        #expect(request.string(at: 1) == "task")
        #expect(request[2].isEmpty)
        #expect(Array(request[3]) == payload)

        // Reply with the same envelope, different body.
        var reply = Message()
        reply.append(request[0])
        reply.append("done")
        reply.append(Array(payload.reversed()))
        try router.send(reply)

        var answer = Message()
        #expect(try dealer.receive(into: &answer, timeout: .seconds(10)))
        #expect(answer.count == 2)
        #expect(answer.string(at: 0) == "done")
        #expect(Array(answer[1]) == Array(payload.reversed()))

        dealer.close()
        router.close()
        context.terminate()
    }

    @Test func routerDealerMultipartOverInproc() throws {
        try routerDealerRoundTrip(bindTo: "inproc://round-trip")
    }

    @Test func routerDealerMultipartOverTCPLoopback() throws {
        try routerDealerRoundTrip(bindTo: "tcp://127.0.0.1:*")
    }

    @Test func receiveBufferIsReusedAcrossMessages() throws {
        let context = try Context()
        let pull = try context.socket(.pull)
        try pull.bind("inproc://reuse")
        let push = try context.socket(.push)
        try push.connect("inproc://reuse")
        try push.send([UInt8](repeating: 1, count: 4096))
        try push.send(frames: [bytes("a"), bytes("bc")])

        var message = Message()
        #expect(try pull.receive(into: &message, timeout: .seconds(5)))
        #expect(message.count == 1 && message.byteCount == 4096)
        let capacity = message.capacity
        #expect(try pull.receive(into: &message, timeout: .seconds(5)))
        #expect(message.count == 2)
        #expect(message.string(at: 0) == "a" && message.string(at: 1) == "bc")
        #expect(message.capacity == capacity, "the smaller message reused the buffer")
    }

    @Test func receiveWithTimeoutReturnsInTime() throws {
        let context = try Context()
        let pull = try context.socket(.pull)
        try pull.bind("tcp://127.0.0.1:*")
        var message = Message(bytes("stale"))

        let clock = ContinuousClock()
        let start = clock.now
        let received = try pull.receive(into: &message, timeout: .milliseconds(300))
        let elapsed = start.duration(to: clock.now)
        #expect(!received)
        #expect(message.isEmpty)
        #expect(elapsed >= .milliseconds(250), "returned early after \(elapsed)")
        #expect(elapsed < .seconds(5), "took \(elapsed)")

        let immediate = clock.now
        #expect(try pull.receive(timeout: .zero) == nil)
        #expect(immediate.duration(to: clock.now) < .seconds(2))
    }

    @Test func pushPullPairAndPubSub() throws {
        let context = try Context()

        let left = try context.socket(.pair)
        try left.bind("inproc://pair")
        let right = try context.socket(.pair)
        try right.connect("inproc://pair")
        try left.send("ping")
        #expect(try right.receive(timeout: .seconds(5))?.string(at: 0) == "ping")
        try right.send("pong")
        #expect(try left.receive(timeout: .seconds(5))?.string(at: 0) == "pong")

        let pub = try context.socket(.pub)
        try pub.bind("tcp://127.0.0.1:*")
        let sub = try context.socket(.sub)
        try sub.set(.subscribe, bytes("weather."))
        try sub.connect(try pub.lastEndpoint())
        // The subscription reaches the publisher asynchronously: publish until one arrives.
        var received: Message?
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while received == nil && ContinuousClock.now < deadline {
            try pub.send(frames: [bytes("sports.x"), bytes("ignored")])
            try pub.send(frames: [bytes("weather.paris"), bytes("sunny")])
            received = try sub.receive(timeout: .milliseconds(20))
        }
        #expect(received?.string(at: 0) == "weather.paris")
        #expect(received?.string(at: 1) == "sunny")
    }

    @Test func pollerReportsOnlyTheReadySocket() throws {
        let context = try Context()
        let first = try context.socket(.pull)
        try first.bind("inproc://poll-1")
        let second = try context.socket(.pull)
        try second.bind("inproc://poll-2")
        let push = try context.socket(.push)
        try push.connect("inproc://poll-2")

        var poller = Poller()
        let a = poller.add(first)
        let b = poller.add(second)
        #expect(try poller.poll(timeout: .milliseconds(50)) == 0)
        #expect(!poller.isReadable(a) && !poller.isReadable(b))

        try push.send("hello")
        #expect(try poller.poll(timeout: .seconds(5)) == 1)
        #expect(!poller.isReadable(a))
        #expect(poller.isReadable(b))
        #expect(try second.receive(timeout: .zero)?.string(at: 0) == "hello")
    }

    @Test func dontWaitSendReportsAFullQueue() throws {
        let context = try Context()
        let push = try context.socket(.push)
        // No peer: a PUSH socket cannot queue anything.
        try push.bind("tcp://127.0.0.1:*")
        #expect(try push.send("lost", flags: .dontWait) == false)
    }
}

@Suite struct ZeroCopyReceiveTests {
    struct Stop: Error {}

    @Test func visitingFramesSeesEveryFrameInPlaceAndKeepsMessageBoundaries() throws {
        let context = try Context()
        let pull = try context.socket(.pull)
        try pull.bind("inproc://visit")
        let push = try context.socket(.push)
        try push.connect("inproc://visit")
        try push.send(frames: [bytes("one"), [UInt8](repeating: 7, count: 100_000), []])
        try push.send(frames: [bytes("a"), bytes("b")])
        try push.send("after")

        var seen: [(Int, Int)] = []
        #expect(try pull.receive(timeout: .seconds(5)) { frame, index in seen.append((index, frame.count)) })
        #expect(seen.map(\.0) == [0, 1, 2])
        #expect(seen.map(\.1) == [3, 100_000, 0])

        // A throwing visitor still consumes the whole message.
        #expect(throws: Stop.self) {
            try pull.receive(timeout: .seconds(5)) { _, _ in throw Stop() }
        }
        #expect(try pull.receive(timeout: .seconds(5))?.string(at: 0) == "after")
        #expect(try pull.receive(timeout: .milliseconds(50)) { _, _ in } == false)
    }
}
