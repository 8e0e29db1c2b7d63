import CZeroMQ
import Foundation
import Testing

@testable import Cluster
@testable import ZeroMQ

/// What a refused worker says, from its DEALER's monitor events (as libzmq 4.3 reports them).
@Suite struct HandshakeDiagnosisTests {
    func event(_ kind: Int32, _ value: UInt32 = 0) -> MonitorEvent {
        MonitorEvent(kind: .init(rawValue: UInt16(kind)), value: value, endpoint: "tcp://10.0.0.1:5570")
    }

    let curve = HandshakeDiagnosis.Setup(endpoint: "tcp://10.0.0.1:5570", workerKey: "Q5xGgiW8", coordinatorKey: "rq:rM>}U")
    let plain = HandshakeDiagnosis.Setup(endpoint: "tcp://10.0.0.1:5570")

    @Test func aKeyNotInTheAllowListIsNamedWithItsFingerprint() {
        var d = HandshakeDiagnosis(setup: curve)
        #expect(d.observe(event(ZMQ_EVENT_CONNECTED, 17)) == nil)
        let why = d.observe(event(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400))
        #expect(
            why
                == "the coordinator refused this worker's key (fingerprint Q5xGgiW8): add this worker's curve.public to its --allow-workers directory (or file) and restart the coordinator (with --resume a running job continues)"
        )
        #expect(d.observe(event(ZMQ_EVENT_DISCONNECTED, 17)) == nil, "the disconnect after the refusal is not another one")
        #expect(d.observe(event(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 300))?.contains("ZAP status 300") == true)
    }

    @Test func aMechanismMismatchSaysWhichSideLacksCURVE() {
        var worker = HandshakeDiagnosis(setup: plain)
        _ = worker.observe(event(ZMQ_EVENT_CONNECTED, 17))
        #expect(
            worker.observe(event(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)))?
                .hasPrefix("the coordinator requires CURVE: give this worker --curve-secret") == true)
        // The next connection is cut before the reason arrives: the same cause.
        _ = worker.observe(event(ZMQ_EVENT_CONNECTED, 18))
        #expect(
            worker.observe(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, UInt32(EPIPE)))?.hasPrefix("the coordinator requires CURVE") == true)
        var coordinatorPlain = HandshakeDiagnosis(setup: curve)
        _ = coordinatorPlain.observe(event(ZMQ_EVENT_CONNECTED, 17))
        #expect(
            coordinatorPlain.observe(event(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)))?
                .hasPrefix("the coordinator does not use CURVE") == true)
    }

    @Test func aWrongCoordinatorKeyShowsAsRepeatedSilentCloses() {
        var d = HandshakeDiagnosis(setup: curve)
        _ = d.observe(event(ZMQ_EVENT_CONNECTED, 20))
        #expect(d.observe(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, UInt32(EPIPE))) == nil, "once could be a race")
        #expect(d.observe(event(ZMQ_EVENT_DISCONNECTED, 20)) == nil)
        _ = d.observe(event(ZMQ_EVENT_CONNECTED, 14))
        let why = d.observe(event(ZMQ_EVENT_DISCONNECTED, 14))
        #expect(
            why?.hasPrefix(
                "the coordinator closed the connection during the CURVE handshake, giving no reason: either --coordinator-key (fingerprint rq:rM>}U) is not the coordinator's public key"
            ) == true)
        // A handshake that succeeds clears it.
        _ = d.observe(event(ZMQ_EVENT_CONNECTED, 15))
        _ = d.observe(event(ZMQ_EVENT_HANDSHAKE_SUCCEEDED))
        #expect(d.observe(event(ZMQ_EVENT_DISCONNECTED, 15)) == nil)
    }

    @Test func aWorkerWithoutKeysCutOffSilentlyIsToldCURVEIsLikely() {
        var d = HandshakeDiagnosis(setup: plain)
        for fd in [20, 21] as [UInt32] {
            _ = d.observe(event(ZMQ_EVENT_CONNECTED, fd))
            if fd == 21 {
                #expect(
                    d.observe(event(ZMQ_EVENT_DISCONNECTED, fd))?.hasPrefix(
                        "tcp://10.0.0.1:5570 closed the connection during the handshake, giving no reason: the coordinator probably requires CURVE (give this worker --curve-secret"
                    ) == true)
            } else {
                #expect(d.observe(event(ZMQ_EVENT_DISCONNECTED, fd)) == nil)
            }
        }
    }

    @Test func nothingListeningIsTheSilenceReason() {
        var d = HandshakeDiagnosis(setup: plain)
        #expect(d.silenceReason?.hasPrefix("no coordinator accepts connections at tcp://10.0.0.1:5570") == true)
        _ = d.observe(event(ZMQ_EVENT_CONNECTED, 9))
        #expect(d.silenceReason == nil)
        d.newSocket()
        #expect(d.silenceReason != nil)
    }

    /// The worker engine says it once, then counts the repeats for a minute.
    @Test func aRepeatedRefusalIsWrittenOncePerMinute() {
        let w = WorkerEngine(identity: .init(workerID: "w1", host: "h", pid: 1, cores: 1, memoryLimit: 256 << 20))
        func warnings(_ out: [WorkerOutput]) -> [String] {
            out.compactMap { if case .log(.warning, let line, _) = $0 { line.description } else { nil } }
        }
        var written: [String] = []
        var t = 0.0
        for _ in 0..<30 {
            _ = w.connected(at: t)
            written += warnings(w.connectionRefused("the coordinator refused this worker's key (fingerprint Q5xGgiW8)", at: t))
            t += 5
        }
        #expect(written.count == 3, "\(written)")
        #expect(written[0] == "the coordinator refused this worker's key (fingerprint Q5xGgiW8); retrying")
        #expect(written[1].hasSuffix("retrying (11 more time(s) in the last 60 s)"), "\(written)")
        #expect(w.connectionRefused("again", at: t).isEmpty, "only while waiting for a welcome")
    }
}
