import Foundation
import Testing

@testable import ZeroMQ

@Suite struct OptionsAndErrorsTests {
    @Test func optionsRoundTripWithTheirLibzmqSizes() throws {
        let context = try Context()
        let socket = try context.socket(.router)
        #expect(try socket.get(.linger) == Socket.defaultLingerMilliseconds)

        try socket.set(.linger, 0)
        try socket.set(.sendHighWaterMark, 123)
        try socket.set(.receiveHighWaterMark, 456)
        try socket.set(.maxMessageSize, 5 << 30)  // needs 64 bits
        try socket.set(.routingID, bytes("coordinator"))
        try socket.set(.routerMandatory, true)
        try socket.set(.heartbeatInterval, 1000)
        try socket.set(.heartbeatTimeout, 3000)
        try socket.set(.heartbeatTTL, 5000)
        try socket.set(.tcpKeepAlive, 1)
        try socket.set(.immediate, true)

        #expect(try socket.get(.linger) == 0)
        #expect(try socket.get(.sendHighWaterMark) == 123)
        #expect(try socket.get(.receiveHighWaterMark) == 456)
        #expect(try socket.get(.maxMessageSize) == 5 << 30)
        #expect(try socket.get(.routingID) == bytes("coordinator"))
        #expect(try socket.get(.heartbeatInterval) == 1000)
        #expect(try socket.get(.heartbeatTimeout) == 3000)
        #expect(try socket.get(.tcpKeepAlive) == 1)
        #expect(try socket.get(.immediate) == true)
    }

    @Test func bindErrorsCarryOperationEndpointAndCode() throws {
        let context = try Context()
        let first = try context.socket(.router)
        try first.bind("tcp://127.0.0.1:*")
        let endpoint = try first.lastEndpoint()

        let second = try context.socket(.router)
        let error = #expect(throws: ZMQError.self) { try second.bind(endpoint) }
        #expect(error?.code == .addressInUse)
        #expect(error?.operation == "zmq_bind")
        #expect(error?.endpoint == endpoint)
        #expect(error?.code.name == "EADDRINUSE")
        #expect(error?.description.contains(endpoint) == true)

        let bogus = #expect(throws: ZMQError.self) { try second.connect("bogus://nowhere") }
        #expect(bogus?.code == .protocolNotSupported)
        #expect(bogus?.endpoint == "bogus://nowhere")

        let unbound = #expect(throws: ZMQError.self) { try second.unbind("tcp://127.0.0.1:1") }
        #expect(unbound?.code == .noSuchEndpoint)
    }

    @Test func routerMandatoryTurnsUnknownPeersIntoErrors() throws {
        let context = try Context()
        let router = try context.socket(.router)
        try router.set(.routerMandatory, true)
        try router.bind("inproc://mandatory")
        let error = #expect(throws: ZMQError.self) {
            try router.send(Message(bytes("nobody"), bytes("hello")))
        }
        #expect(error?.code == .hostUnreachable)
    }

    @Test func closedSocketsFailCleanlyAndCloseIsIdempotent() throws {
        let context = try Context()
        let socket = try context.socket(.dealer)
        socket.close()
        socket.close()
        #expect(socket.isClosed)
        let error = #expect(throws: ZMQError.self) { try socket.send("x") }
        #expect(error?.code == .notASocket)
        #expect(throws: ZMQError.self) { try socket.bind("inproc://closed") }
        var poller = Poller()
        poller.add(socket)
        #expect(throws: ZMQError.self) { try poller.poll(timeout: .zero) }
    }

    @Test func contextTerminatesAfterSocketsAreReleasedWithoutClose() throws {
        let thread = SocketThread(name: "term-test") { _ in
            let context = try Context()
            do {
                let socket = try context.socket(.dealer)
                try socket.connect("tcp://127.0.0.1:9")  // unreachable: would keep messages with linger -1
                try socket.send("pending")
                // released without close(): deinit closes it (linger 1 s default)
            }
            context.terminate()
        }
        #expect(finishes(thread, within: .seconds(15)), "context termination hung")
        try thread.join()
    }

    @Test func shutdownWakesABlockingReceiveWithContextTerminated() throws {
        let context = try Context()
        let thread = SocketThread(name: "blocked-receiver") { _ in
            let pull = try context.socket(.pull)
            defer { pull.close() }
            try pull.bind("inproc://blocked")
            _ = try pull.receive(timeout: nil)
        }
        Thread.sleep(forTimeInterval: 0.1)
        context.shutdown()
        #expect(finishes(thread), "blocking receive did not return after shutdown")
        let error = #expect(throws: ZMQError.self) { try thread.join() }
        #expect(error?.code == .contextTerminated)
    }

    @Test func z85AndKeys() throws {
        // Test vector from ZeroMQ RFC 32.
        let raw: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        #expect(try Z85.encode(raw) == "HelloWorld")
        #expect(try Z85.decode("HelloWorld") == raw)
        #expect(throws: ZMQError.self) { try Z85.encode([1, 2, 3]) }
        #expect(throws: ZMQError.self) { try Z85.decode("Hell") }
        #expect(throws: ZMQError.self) { try Z85.decode("Hell\"") }

        let pair = try CurveKeyPair.generate()
        #expect(pair.publicKey.bytes.count == 32)
        #expect(pair.publicKey.z85.count == 40)
        #expect(try CurvePublicKey(z85: pair.publicKey.z85) == pair.publicKey)
        #expect(try CurvePublicKey(secretKey: pair.secretKey) == pair.publicKey)
        #expect(!"\(pair.secretKey)".contains(pair.secretKey.z85))
        #expect(try CurveKeyPair.generate() != pair)
        #expect(throws: ZMQError.self) { try CurvePublicKey(z85: "short") }
        #expect(throws: ZMQError.self) { try CurvePublicKey(bytes: [1, 2, 3]) }
    }
}
