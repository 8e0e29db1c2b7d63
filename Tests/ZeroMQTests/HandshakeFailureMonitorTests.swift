import CZeroMQ
import Foundation
import Logging
import TestSupport
import Testing

@testable import ZeroMQ

/// Connects a plain TCP socket to 127.0.0.1:`port`, waits `delay` seconds,
/// writes `bytes` (not ZMTP) and closes. Returns its local `IP:port`, or nil
/// if it could not connect.
private func sendRawBytes(port: UInt16, _ bytes: [UInt8], after delay: Double) -> String? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return nil }
    let local = socketLocalAddress(fd)
    Thread.sleep(forTimeInterval: delay)
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    Thread.sleep(forTimeInterval: 0.1)
    return local
}

private func socketLocalAddress(_ fd: Int32) -> String? {
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let rc = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return rc == 0 ? "127.0.0.1:\(UInt16(bigEndian: address.sin_port))" : nil
}

private func event(_ kind: Int32, _ value: UInt32) -> MonitorEvent {
    MonitorEvent(kind: .init(rawValue: UInt16(kind)), value: value, endpoint: "tcp://127.0.0.1:5555")
}

@Suite struct HandshakeTrackerTests {
    let addresses: [Int32: String] = [7: "10.0.0.2:4000", 8: "10.0.0.3:4001", 9: "10.0.0.4:4002"]

    @Test func protocolFailureIsMatchedWithTheNextDisconnectAndItsAddress() {
        var t = HandshakeTracker()
        #expect(t.observe(event(ZMQ_EVENT_ACCEPTED, 7), peerAddress: { addresses[$0] }) == nil)
        #expect(
            t.observe(
                event(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)),
                peerAddress: { addresses[$0] }) == nil)
        let refusal = t.observe(event(ZMQ_EVENT_DISCONNECTED, 7), peerAddress: { addresses[$0] })
        #expect(
            refusal
                == RefusedConnection(
                    address: "10.0.0.2:4000",
                    cause: .protocolError(code: UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH))))
        #expect(refusal?.description.hasPrefix("refused a connection from 10.0.0.2:4000: handshake failed (mechanism mismatch") == true)
        #expect(t.openConnections == 0)
    }

    @Test func closingWhileHandshakingIsARefusalButClosingAfterwardsIsNot() {
        var t = HandshakeTracker()
        _ = t.observe(event(ZMQ_EVENT_ACCEPTED, 7), peerAddress: { addresses[$0] })
        #expect(
            t.observe(event(ZMQ_EVENT_DISCONNECTED, 7), peerAddress: { addresses[$0] })
                == RefusedConnection(address: "10.0.0.2:4000", cause: .closedDuringHandshake))
        _ = t.observe(event(ZMQ_EVENT_ACCEPTED, 8), peerAddress: { addresses[$0] })
        _ = t.observe(event(ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0), peerAddress: { addresses[$0] })
        #expect(
            t.observe(event(ZMQ_EVENT_DISCONNECTED, 8), peerAddress: { addresses[$0] }) == nil,
            "an established connection closing is no refusal")
    }

    @Test func anUnattributableSuccessNeverTurnsIntoAFalseRefusal() {
        var t = HandshakeTracker()
        _ = t.observe(event(ZMQ_EVENT_ACCEPTED, 7), peerAddress: { addresses[$0] })
        _ = t.observe(event(ZMQ_EVENT_ACCEPTED, 8), peerAddress: { addresses[$0] })
        _ = t.observe(event(ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0), peerAddress: { addresses[$0] })  // 7 or 8?
        #expect(t.observe(event(ZMQ_EVENT_DISCONNECTED, 7), peerAddress: { addresses[$0] }) == nil)
        #expect(t.observe(event(ZMQ_EVENT_DISCONNECTED, 8), peerAddress: { addresses[$0] }) == nil)
        // an explicit failure is still reported, with an unknown address if the descriptor was never seen
        _ = t.observe(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, UInt32(ECONNRESET)), peerAddress: { addresses[$0] })
        let refusal = t.observe(event(ZMQ_EVENT_DISCONNECTED, 42), peerAddress: { addresses[$0] })
        #expect(refusal == RefusedConnection(address: nil, cause: .noDetail(errno: UInt32(ECONNRESET))))
        #expect(refusal?.description.contains("an unknown address") == true)
    }

    @Test func connectionsToTheListeningPortAreFoundInProcNetTCP() {
        // Listening on 10.77.0.1:5555 (0x15B3): connections from 10.77.0.4:41236 (TIME_WAIT, 06),
        // 10.77.0.2:40000 (FIN_WAIT2, 05), 10.77.0.3:40001 (ESTABLISHED, 01), 10.77.0.3:40002
        // (LAST_ACK, 09); the listening socket itself and another port are not connections to it.
        let text = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 01004D0A:15B3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123 1 0 100 0 0 10 0
               1: 01004D0A:15B3 04004D0A:A114 06 00000000:00000000 03:00000D3A 00000000     0        0 0 3 0
               2: 01004D0A:15B3 02004D0A:9C40 05 00000000:00000000 00:00000000 00000000     0        0 0 2 0
               3: 01004D0A:15B3 03004D0A:9C41 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0
               4: 01004D0A:15B3 03004D0A:9C42 09 00000000:00000000 00:00000000 00000000     0        0 0 1 0
               5: 01004D0A:15B4 03004D0A:9C43 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0
            """
        #expect(peers(procNetTCP: text, localPort: 5555) == ["10.77.0.4:41236", "10.77.0.2:40000", "10.77.0.3:40001", "10.77.0.3:40002"])
        let v6 = """
              sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0000000000000000FFFF00000100007F:15B3 0000000000000000FFFF00000200007F:A114 06 00000000:00000000 03:00000D3A 00000000     0        0 0 3 0
               1: 00000000000000000000000001000000:15B3 00000000000000000000000001000000:A115 06 00000000:00000000 03:00000D3A 00000000     0        0 0 3 0
            """
        #expect(peers(procNetTCP: v6, localPort: 5555) == ["127.0.0.2:41236", "[::1]:41237"])
        #expect(listeningPort("tcp://10.77.0.1:5555") == 5555 && listeningPort("inproc://x") == nil)
    }

    @Test func authenticationFailuresAreReportedAsSuch() {
        var t = HandshakeTracker()
        _ = t.observe(event(ZMQ_EVENT_ACCEPTED, 9), peerAddress: { addresses[$0] })
        _ = t.observe(event(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400), peerAddress: { addresses[$0] })
        #expect(
            t.observe(event(ZMQ_EVENT_DISCONNECTED, 9), peerAddress: { addresses[$0] })
                == RefusedConnection(address: "10.0.0.4:4002", cause: .authentication(status: 400)))
    }
}

@Suite struct LogRateLimiterTests {
    @Test func aFloodIsCutToTheBurstPerWindowAndCounted() {
        var limiter = LogRateLimiter(burst: 3, interval: 10)
        var written = 0
        for i in 0..<1000 {
            if case .write = limiter.admit(at: Double(i) * 0.001) { written += 1 }
        }
        #expect(written == 3)
        #expect(limiter.suppressed == 997 && limiter.suppressedTotal == 997)
        #expect(limiter.summary(at: 5) == nil, "the window has not ended")
        #expect(limiter.admit(at: 10.5) == .write(suppressedBefore: 997), "the next window's first line carries the count")
        #expect(limiter.summary(at: 30) == nil)
        for _ in 0..<5 { _ = limiter.admit(at: 31) }
        #expect(limiter.summary(at: 40) == nil && limiter.summary(at: 41.5) == 2)
        #expect(limiter.suppressedTotal == 999)
    }

    @Test func rateLimitedLogCutsEachSourceToItsBurstSoAFloodHidesNoOtherSource() {
        let lines = CapturedLog()
        let log = RateLimitedLog(burst: 2, interval: 3600, what: "refusals", sourceKind: "host", logger: lines.logger)
        for i in 0..<50 { log.write("line \(i)", source: "10.0.0.4 (mechanism mismatch)") }
        log.write("the other host", source: "10.0.0.2 (mechanism mismatch)", metadata: ["peer": "10.0.0.2"])
        log.write("raw bytes", source: "10.0.0.4 (closed during the handshake)")
        log.flush()
        #expect(lines.lines(at: .warning) == ["line 0", "line 1", "the other host", "raw bytes"])
        #expect(lines.events[2].metadata["peer"] == "10.0.0.2")
        #expect(log.suppressedTotal == 48)
    }

    @Test func aRefusalIsRateLimitedByItsHostAndCause() {
        #expect(
            RefusedConnection(address: "10.0.0.4:4002", cause: .protocolError(code: UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)))
                .source
                == "10.0.0.4 (mechanism mismatch)")
        #expect(
            RefusedConnection(address: "[::1]:4002", cause: .closedDuringHandshake).source
                == "::1 (closed during the handshake)")
        #expect(RefusedConnection(address: nil, cause: .noDetail(errno: 0)).source == "an unknown address (no detail)")
        let mismatch = RefusedConnection.Cause.protocolError(code: UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH))
        #expect(
            RefusedConnection(address: "10.0.0.4 (port unknown)", cause: mismatch).source == "10.0.0.4 (mechanism mismatch)",
            "an address read from the kernel's table counts as the same host")
        #expect(RefusedConnection(address: "one of 10.0.0.2, 10.0.0.4", cause: mismatch).host == "one of 10.0.0.2, 10.0.0.4")
    }
}

/// A CURVE ROUTER with a ZAP allow-list and a handshake monitor, as the coordinator runs it.
@Suite(.serialized) struct HandshakeFailureMonitorTests {
    @Test func plainClientAndRawBytesAreRefusedWithTheirAddressWhileAnAllowedClientIsServed() throws {
        let context = try Context()
        let serverKeys = try CurveKeyPair.generate()
        let member = try CurveKeyPair.generate()
        let auth = try ZAPAuthenticator(context: context, allowedClientKeys: [member.publicKey], logger: Logger(label: "test.zap"))
        let router = try context.socket(.router)
        try router.set(.linger, 0)
        try router.configureCurveServer(secretKey: serverKeys.secretKey)
        let refusals = Box<[RefusedConnection]>([])
        let monitor = try HandshakeFailureMonitor(socket: router) { refusal in refusals.withLock { $0.append(refusal) } }
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint()
        let port = try #require(UInt16(endpoint.split(separator: ":").last ?? ""))
        defer {
            router.close()
            monitor.stop()
            auth.stop()
        }

        // A plain (NULL mechanism) DEALER: libzmq drops it before ZAP; only the monitor sees it.
        let plain = try context.socket(.dealer)
        try plain.set(.linger, 0)
        try plain.connect(endpoint)
        try plain.send("let me in")
        let mismatchCause = RefusedConnection.Cause.protocolError(code: UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH))
        #expect(eventually { refusals.current.contains { $0.cause == mismatchCause } })
        plain.close()
        // libzmq can close (and reset) a refused connection before the monitor reads its address;
        // then it comes from /proc/net/tcp or is unknown. Every refusal is reported, and an address,
        // when there is one, is the client's (the delayed raw client below checks the exact one).
        let mismatches = refusals.current.filter { $0.cause == mismatchCause }
        #expect(mismatches.allSatisfy { $0.address == nil || $0.address!.hasPrefix("127.0.0.1") }, "\(mismatches)")
        #expect(mismatches.allSatisfy { $0.description.contains("handshake failed (mechanism mismatch") })
        #expect(auth.refusedCount == 0, "ZAP never saw the plain client")

        // Random bytes over TCP (no ZMTP greeting).
        var rng = SystemRandomNumberGenerator()
        var garbage = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) }
        garbage[0] = 0x42  // not 0xFF: never a ZMTP 3 greeting that could read as another mechanism
        let before = refusals.current.count
        // It waits before writing, as a slow scanner would: its descriptor is read while it is open.
        let sender = try #require(sendRawBytes(port: port, garbage, after: 0.2))
        #expect(eventually { refusals.current.dropFirst(before).contains { $0.cause != mismatchCause } })
        let raw = try #require(refusals.current.dropFirst(before).first { $0.cause != mismatchCause })
        #expect(raw.address == sender, "\(raw)")
        #expect(raw.description.hasPrefix("refused a connection from \(sender): handshake failed ("))
        #expect(monitor.refusedCount == refusals.current.count)

        // An allow-listed CURVE client is still served.
        let dealer = try context.socket(.dealer)
        try dealer.set(.linger, 0)
        try dealer.configureCurveClient(keyPair: member, serverKey: serverKeys.publicKey)
        defer { dealer.close() }
        try dealer.connect(endpoint)
        try dealer.send("hello")
        let request = try #require(try router.receive(timeout: .seconds(10)))
        #expect(request.string(at: 1) == "hello")
        try router.send(Message(Array(request[0]), bytes("welcome")))
        #expect(try dealer.receive(timeout: .seconds(10))?.string(at: 0) == "welcome")
        let refusedBefore = refusals.current.count
        Thread.sleep(forTimeInterval: 0.2)
        #expect(refusals.current.count == refusedBefore, "the allowed client's connection is no refusal")
    }
}
