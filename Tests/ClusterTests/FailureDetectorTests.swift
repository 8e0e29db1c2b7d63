import Testing

@testable import Cluster

@Suite struct FailureDetectorTests {
    typealias Detector = FailureDetector<String>
    let config = Detector.Configuration(heartbeatInterval: 1, liveness: 5, leaseDuration: 10)

    @Test func silenceShorterThanTheWindowCausesNothing() {
        var d = Detector(configuration: config)
        d.joined("w1", now: 0)
        d.leased(attemptID: 7, to: "w1", now: 0)
        // heartbeats every second, then a 4.9 s gap (a brief network cut), then heartbeats again
        var t = 0.0
        for _ in 0..<5 {
            t += 1
            d.heard(from: "w1", now: t)
            d.renew(attemptID: 7, by: "w1", now: t)
            do {
                let v = d.poll(now: t)
                #expect(v.isEmpty)
            }
        }
        for probe in stride(from: t + 0.5, through: t + 4.9, by: 0.1) {
            do {
                let v = d.poll(now: probe)
                #expect(v.isEmpty)
            }
        }
        #expect(d.status(of: "w1", now: t + 4.9) != .down)
        t += 4.9
        do {
            let h = d.heard(from: "w1", now: t)
            #expect(h)
        }
        d.renew(attemptID: 7, by: "w1", now: t)
        do {
            let v = d.poll(now: t + 4.8)
            #expect(v.isEmpty)
        }
        #expect(d.status(of: "w1", now: t + 1) == .alive)
    }

    @Test func silentPeerIsDownOnceAndItsLeasesExpire() {
        var d = Detector(configuration: config)
        d.joined("w1", now: 0)
        d.joined("w2", now: 0)
        d.leased(attemptID: 3, to: "w1", now: 0)
        d.leased(attemptID: 4, to: "w2", now: 0)
        for t in 1...4 { d.heard(from: "w2", now: Double(t)) }
        do {
            let v = d.poll(now: 4.99)
            #expect(v.isEmpty)
        }
        let verdicts = d.poll(now: 5)
        #expect(verdicts == [.peerDown("w1", silentFor: 5), .leaseExpired(attemptID: 3, peer: "w1", overdueBy: 0)])
        do {
            let v = d.poll(now: 6)
            #expect(v.isEmpty, "each verdict once")
        }
        #expect(d.status(of: "w1", now: 6) == .down)
        // late messages from a peer declared down do not revive it or its leases
        do {
            let h = d.heard(from: "w1", now: 6.5)
            #expect(!h)
        }
        d.renew(attemptID: 3, by: "w1", now: 6.5)
        #expect(d.deadline(of: 3) == nil)
        // it may rejoin with a new session
        d.joined("w1", now: 7)
        #expect(d.status(of: "w1", now: 7.5) == .alive)
    }

    @Test func leaseExpiresWhenNotRenewedEvenIfPeerHeartbeats() {
        var d = Detector(configuration: config)
        d.joined("w1", now: 0)
        d.leased(attemptID: 9, to: "w1", now: 0)
        for t in 1...12 {
            d.heard(from: "w1", now: Double(t))
            let v = d.poll(now: Double(t))
            if t < 10 { #expect(v.isEmpty) }
            if t == 10 { #expect(v == [.leaseExpired(attemptID: 9, peer: "w1", overdueBy: 0)]) }
            if t > 10 { #expect(v.isEmpty) }
        }
    }

    @Test func renewalOnlyByTheHolderAndNeverShortens() {
        var d = Detector(configuration: config)
        d.joined("w1", now: 0)
        d.joined("w2", now: 0)
        d.leased(attemptID: 1, to: "w1", now: 0)
        d.renew(attemptID: 1, by: "w2", now: 5)
        #expect(d.deadline(of: 1) == 10)
        d.renew(attemptID: 1, by: "w1", now: 5)
        #expect(d.deadline(of: 1) == 15)
        d.renew(attemptID: 1, by: "w1", now: 2)
        #expect(d.deadline(of: 1) == 15)
        d.released(attemptID: 1)
        #expect(d.deadline(of: 1) == nil)
    }

    @Test func leftPeersAreForgottenWithTheirLeases() {
        var d = Detector(configuration: config)
        d.joined("w1", now: 0)
        d.leased(attemptID: 1, to: "w1", now: 0)
        d.left("w1")
        do {
            let v = d.poll(now: 100)
            #expect(v.isEmpty)
        }
        #expect(d.status(of: "w1", now: 100) == .unknown)
        do {
            let h = d.heard(from: "w1", now: 100)
            #expect(!h)
        }
    }

    @Test func nextDeadlineIsTheEarliestPeerOrLeaseDeadline() {
        var d = Detector(configuration: config)
        #expect(d.nextDeadline() == nil)
        d.joined("w1", now: 2)
        #expect(d.nextDeadline() == 7)
        d.leased(attemptID: 1, to: "w1", now: -4)
        #expect(d.nextDeadline() == 6)
        _ = d.poll(now: 7)
        #expect(d.nextDeadline() == nil)
    }

    @Test func statusSuspectAfterMissedHeartbeat() {
        var d = Detector(configuration: config)
        d.joined("w1", now: 0)
        #expect(d.status(of: "w1", now: 1.5) == .alive)
        #expect(d.status(of: "w1", now: 2) == .suspect(silentFor: 2))
        #expect(Detector.Configuration(heartbeatInterval: 2, liveness: 0).timeout == 2)
    }
}
