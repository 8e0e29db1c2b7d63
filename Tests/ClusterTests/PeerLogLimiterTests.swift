import Foundation
import Testing

@testable import Cluster

/// The coordinator's per-peer limit on warnings a peer can trigger
/// ("dropped message from …"): a garbage peer gets a few lines, then a count.
@Suite struct PeerLogLimiterTests {
    let garbage = PeerAddress([0x00, 0x6B, 0x8B, 0x45, 0x67])
    let worker = PeerAddress([0x00, 0x6B, 0x8B, 0x45, 0x68])

    @Test func aFloodFromOnePeerIsCutToABurstAndACount() {
        var limiter = PeerLogLimiter(burst: 5, interval: 10)
        var written: [String] = []
        // 883 dropped messages in one second, as in the probe.
        for i in 0..<883 {
            if let line = limiter.admit("dropped message from \(garbage): protocol error #\(i)", from: garbage, at: Double(i) / 883) {
                written.append(line)
            }
        }
        #expect(written.count == 5)
        // Another peer is not silenced by the first one's flood.
        #expect(limiter.admit("dropped message from \(worker): stale", from: worker, at: 1) != nil)
        // Once the window has ended, the suppressed lines are summarised with their count.
        let summaries = limiter.summaries(at: 11)
        #expect(summaries == ["878 more warnings from \(garbage) in the last 10 s were not logged one by one"])
        #expect(limiter.summaries(at: 12).isEmpty)
        // A new window writes again; quiet peers are forgotten after a window without lines.
        #expect(limiter.admit("again", from: garbage, at: 12) == "again")
        _ = limiter.summaries(at: 30)
        #expect(limiter.trackedSources == 0)
    }

    @Test func aCountIsAppendedWhenTheNextLineIsWritten() {
        var limiter = PeerLogLimiter(burst: 1, interval: 10)
        #expect(limiter.admit("a", from: garbage, at: 0) == "a")
        #expect(limiter.admit("b", from: garbage, at: 1) == nil)
        #expect(limiter.admit("c", from: garbage, at: 2) == nil)
        #expect(limiter.admit("d", from: garbage, at: 10) == "d (2 more warnings from this peer were not logged)")
    }

    @Test func longLinesAreCutAndManyPeersShareOneLimiter() {
        var limiter = PeerLogLimiter(burst: 2, interval: 10, maxPeers: 4, maxLineBytes: 100)
        let line = limiter.admit(String(repeating: "é", count: 10_000), from: garbage, at: 0) ?? ""
        #expect(line.utf8.count < 130 && line.hasSuffix("… (20000 bytes)"), "\(line)")
        // 1,000 peers with fresh routing ids: the table stays at maxPeers, the rest share one limiter.
        var written = 0
        for i in 0..<1000 {
            let peer = PeerAddress([0x00] + withUnsafeBytes(of: UInt32(i).bigEndian, Array.init))
            if limiter.admit("dropped message from \(peer)", from: peer, at: 1) != nil { written += 1 }
        }
        #expect(limiter.trackedSources == 4)
        #expect(written == 3 + 2, "one line from each of the three new tracked peers, plus the shared limiter's burst")
        #expect(limiter.summaries(at: 20).contains { $0.hasPrefix("\(1000 - 3 - 2) more warnings from other peers") })
    }
}
