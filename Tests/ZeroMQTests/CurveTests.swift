import Foundation
import Logging
import TestSupport
import Testing

@testable import ZeroMQ

/// CURVE with a ZAP allow-list, over tcp loopback.
@Suite struct CurveTests {
    /// A CURVE ROUTER with a ZAP authenticator admitting `allowed`.
    private struct Server {
        let context: Context
        let keys: CurveKeyPair
        let router: Socket
        let endpoint: String
        let authenticator: ZAPAuthenticator
        let decisions: Box<[ZAPAuthenticator.Decision]>

        init(allowing allowed: [CurvePublicKey]) throws {
            context = try Context()
            keys = try CurveKeyPair.generate()
            let decisions = Box<[ZAPAuthenticator.Decision]>([])
            self.decisions = decisions
            authenticator = try ZAPAuthenticator(
                context: context, allowedClientKeys: allowed,
                logger: Logger(label: "test.zap"),
                onDecision: { decision in decisions.withLock { $0.append(decision) } })
            router = try context.socket(.router)
            try router.configureCurveServer(secretKey: keys.secretKey)
            try router.bind("tcp://127.0.0.1:*")
            endpoint = try router.lastEndpoint()
        }

        func client(_ keys: CurveKeyPair, serverKey: CurvePublicKey? = nil) throws -> Socket {
            let dealer = try context.socket(.dealer)
            try dealer.set(.linger, 0)
            try dealer.configureCurveClient(keyPair: keys, serverKey: serverKey ?? self.keys.publicKey)
            return dealer
        }

        func shutDown() {
            router.close()
            authenticator.stop()
        }
    }

    @Test func allowListedClientTalks() throws {
        let clientKeys = try CurveKeyPair.generate()
        let server = try Server(allowing: [clientKeys.publicKey])
        defer { server.shutDown() }
        let dealer = try server.client(clientKeys)
        defer { dealer.close() }
        try dealer.connect(server.endpoint)

        try dealer.send(frames: [bytes("secret"), bytes("payload")])
        let request = try #require(try server.router.receive(timeout: .seconds(10)))
        #expect(request.count == 3)
        #expect(request.string(at: 1) == "secret")
        try server.router.send(Message(Array(request[0]), bytes("reply")))
        #expect(try dealer.receive(timeout: .seconds(10))?.string(at: 0) == "reply")

        #expect(server.authenticator.acceptedCount == 1)
        #expect(server.authenticator.refusedCount == 0)
        #expect(eventually { !server.decisions.current.isEmpty })
        let decision = try #require(server.decisions.current.first)
        #expect(decision.accepted)
        #expect(decision.mechanism == "CURVE")
        #expect(decision.clientKey == clientKeys.publicKey)
    }

    @Test func validKeyNotInTheAllowListIsRefusedAndTheRefusalIsObserved() throws {
        let member = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate()
        let server = try Server(allowing: [member.publicKey])
        defer { server.shutDown() }
        let dealer = try server.client(stranger)
        defer { dealer.close() }
        let clientMonitor = try dealer.monitor(.handshakeFailed)
        try dealer.connect(server.endpoint)
        try dealer.send("let me in")

        #expect(eventually { !server.decisions.current.isEmpty }, "no refusal observed")
        #expect(server.authenticator.refusedCount >= 1)
        let refusal = try #require(server.decisions.current.first)
        #expect(!refusal.accepted)
        #expect(refusal.clientKey == stranger.publicKey)
        #expect(refusal.address == "127.0.0.1")
        #expect(refusal.reason.contains("allow-list"))
        let failure = try waitForEvent(clientMonitor) { $0.kind.isHandshakeFailure }
        #expect(failure?.kind == .handshakeFailedAuth)

        #expect(try server.router.receive(timeout: .milliseconds(500)) == nil, "a refused client got a message through")
        #expect(server.authenticator.acceptedCount == 0)

        // Allowing the key at run time admits the next handshake (libzmq reconnects).
        server.authenticator.allow(stranger.publicKey)
        dealer.close()
        let retry = try server.client(stranger)
        defer { retry.close() }
        try retry.connect(server.endpoint)
        try retry.send("now?")
        #expect(try server.router.receive(timeout: .seconds(10))?.string(at: 1) == "now?")
    }

    @Test func clientWithTheWrongServerKeyGetsNothingThroughAndTimesOut() throws {
        let clientKeys = try CurveKeyPair.generate()
        let impostorServerKey = try CurveKeyPair.generate().publicKey
        let server = try Server(allowing: [clientKeys.publicKey])
        defer { server.shutDown() }
        let serverMonitor = try server.router.monitor(.handshakeFailed)
        let dealer = try server.client(clientKeys, serverKey: impostorServerKey)
        defer { dealer.close() }
        try dealer.connect(server.endpoint)
        try dealer.send("hello?")

        let failure = try waitForEvent(serverMonitor) { $0.kind.isHandshakeFailure }
        #expect(failure != nil, "the server saw no handshake failure")
        #expect(try server.router.receive(timeout: .milliseconds(500)) == nil)
        #expect(try dealer.receive(timeout: .milliseconds(500)) == nil)
        #expect(server.authenticator.acceptedCount == 0)
    }

    @Test func authenticatorStopsAndTheContextTerminates() throws {
        let thread = SocketThread(name: "zap-teardown") { _ in
            let context = try Context()
            let auth = try ZAPAuthenticator(context: context, allowedClientKeys: [])
            auth.stop()
            auth.stop()
            context.terminate()  // would block forever if the ZAP socket were still open

            let other = try Context()
            let survivor = try ZAPAuthenticator(context: other, allowedClientKeys: [])
            other.shutdown()  // the handler sees ETERM and closes its socket
            other.terminate()
            survivor.stop()
        }
        #expect(finishes(thread, within: .seconds(10)), "ZAP teardown hung")
        try thread.join()
    }

    @Test func secondAuthenticatorInTheSameContextIsRejected() throws {
        let context = try Context()
        let first = try ZAPAuthenticator(context: context, allowedClientKeys: [])
        defer { first.stop() }
        let error = #expect(throws: ZMQError.self) {
            _ = try ZAPAuthenticator(context: context, allowedClientKeys: [])
        }
        #expect(error?.code == .addressInUse)
    }
}
