import Foundation
import Locking
import Testing

@testable import Cluster

@Suite struct ProgressDisplayTests {
    static let workers = [
        ProgressSnapshot.WorkerMemory(id: "w1", rss: 66 << 20, limit: 512 << 20),
        ProgressSnapshot.WorkerMemory(id: "w2", rss: 33 << 20, limit: 512 << 20)
    ]

    func train(_ trees: Int, at time: Double, total: Int = 100) -> ProgressSnapshot {
        ProgressSnapshot(
            stage: "train", time: time, done: Double(trees), total: Double(total), unit: "trees", tasksDone: 0, tasksTotal: 1,
            treesDone: trees, treesTotal: total, workers: Self.workers)
    }

    @Test func aWideTerminalShowsTheBarCountsRateETAAndWorkerMemory() {
        var d = ProgressDisplay()
        _ = d.update(train(50, at: 10))
        _ = d.update(train(57, at: 17))  // 1 tree/s
        let line = d.barLine(width: 140)
        #expect(line.hasPrefix("train     [#################.............]  57/100 trees  0/1 tasks  1.0 trees/s  ETA 0:43  0:07"))
        #expect(line.hasSuffix(" | w1 66/512 MiB w2 33/512 MiB"))
        #expect(line.count <= 140)
    }

    @Test func narrowTerminalsDropTheWorkersThenTheBarAndNeverOverflow() {
        var d = ProgressDisplay()
        _ = d.update(train(50, at: 10))
        _ = d.update(train(57, at: 17))
        let medium = d.barLine(width: 80)
        #expect(medium.contains("[#") && !medium.contains("w1"))
        #expect(medium.count <= 80)
        let narrow = d.barLine(width: 50)
        #expect(!narrow.contains("[") && narrow.hasPrefix("train     57/100 trees"))
        for width in [1, 5, 20, 40, 60, 79, 81, 100, 200] {
            #expect(d.barLine(width: width).count <= width, "width \(width)")
        }
    }

    @Test func theETAFollowsASmoothedRate() {
        var d = ProgressDisplay()
        _ = d.update(train(0, at: 0))
        #expect(d.eta == nil, "no rate from one sample")
        _ = d.update(train(10, at: 10))  // 1 tree/s
        #expect(abs((d.eta ?? -1) - 90) < 1e-9)
        _ = d.update(train(40, at: 11))  // a burst of 30 trees in 1 s: the estimate moves, but not all the way
        let rate = 60.0 / (d.eta ?? 1)
        #expect(rate > 1 && rate < 30, "smoothed rate \(rate)")
    }

    @Test func aChangeOfUnitStartsTheRateAfresh() {
        var d = ProgressDisplay()
        _ = d.update(ProgressSnapshot(stage: "extract", time: 0, done: 0, total: 3, unit: "tasks"))
        _ = d.update(ProgressSnapshot(stage: "extract", time: 1, done: 5e8, total: 1e9, unit: "bytes"))
        #expect(d.eta == nil, "no rate from 0 tasks to 500 MB")
        _ = d.update(ProgressSnapshot(stage: "extract", time: 2, done: 6e8, total: 1e9, unit: "bytes"))
        #expect(abs((d.eta ?? -1) - 4) < 1e-9)
    }

    @Test func zeroRateAndUnknownTotalsShowNoETAAndNoBar() {
        var d = ProgressDisplay()
        _ = d.update(train(5, at: 0))
        _ = d.update(train(5, at: 3))
        #expect(d.eta == nil, "no progress: no ETA")
        #expect(d.barLine(width: 120).contains("ETA ?"))

        var unknown = ProgressDisplay()
        _ = unknown.update(ProgressSnapshot(stage: "extract", time: 0, done: 0, total: nil, rows: 0))
        _ = unknown.update(ProgressSnapshot(stage: "extract", time: 2, done: 0, total: nil, rows: 24_600))
        let line = unknown.barLine(width: 120)
        #expect(unknown.eta == nil)
        #expect(!line.contains("[") && !line.contains("ETA"))
        #expect(line.contains("24.6K rows  12.3K rows/s"), "\(line)")
    }

    @Test func aFinishedStageLeavesOneFinalLine() {
        var d = ProgressDisplay()
        #expect(d.update(ProgressSnapshot(stage: "extract", time: 0, done: 0, total: 1000, rows: 0, tasksDone: 0, tasksTotal: 3)).isEmpty)
        #expect(
            d.update(ProgressSnapshot(stage: "extract", time: 2, done: 1000, total: 1000, rows: 6000, tasksDone: 1, tasksTotal: 3)).isEmpty)
        let finished = d.update(train(0, at: 2.5))
        #expect(finished == ["extract   finished in 0:03  6000 rows  3/3 tasks  2400 rows/s"])
        #expect(d.update(train(3, at: 4)).isEmpty, "one line per stage")
        #expect(d.update(ProgressSnapshot(stage: "done", time: 5)).count == 1)
        #expect(d.finishLine() == nil, "done leaves no line of its own")
    }

    @Test func plainLinesKeepTheLogFormat() {
        var d = ProgressDisplay()
        _ = d.update(train(27, at: 0))
        #expect(d.plainLine() == "stage train; tasks 0/1; trees 27/100; workers w1 66 MiB/512 MiB, w2 33 MiB/512 MiB")
        _ = d.update(train(37, at: 5))
        #expect(d.plainLine().hasPrefix("stage train; tasks 0/1; trees 37/100 (2.0 trees/s, ETA 0:32)"))
    }

    @Test func formatting() {
        #expect(ProgressDisplay.clock(0) == "0:00")
        #expect(ProgressDisplay.clock(65) == "1:05")
        #expect(ProgressDisplay.clock(3725) == "1:02:05")
        #expect(ProgressDisplay.count(950) == "950")
        #expect(ProgressDisplay.count(12_345) == "12.3K")
        #expect(ProgressDisplay.count(4_560_000) == "4.56M")
        #expect(ProgressDisplay.memory(3 << 29, of: 2 << 30) == "1.5/2.0 GiB")
    }

    @Test func autoModeIsABarOnlyOnARealTerminal() {
        #expect(ProgressMode.auto.resolved(isTTY: true, term: "xterm-256color") == .bar)
        #expect(ProgressMode.auto.resolved(isTTY: true, term: "dumb") == .plain)
        #expect(ProgressMode.auto.resolved(isTTY: true, term: nil) == .plain)
        #expect(ProgressMode.auto.resolved(isTTY: false, term: "xterm") == .plain)
        #expect(ProgressMode.bar.resolved(isTTY: false, term: nil) == .bar)
        #expect(ProgressMode.none.resolved(isTTY: true, term: "xterm") == .none)
        #expect(ProgressMode.plain.resolved(isTTY: true, term: "xterm") == .plain)
    }

    @Test func logLinesPrintAboveTheBarWithoutGarblingIt() {
        let written = Locked([String]())
        let terminal = ProgressTerminal(mode: .bar, write: { text in written.withLock { $0.append(text) } }, width: { 60 })
        terminal.log("before any bar")
        terminal.show(train(10, at: 0))
        terminal.log("w2 joined")
        terminal.show(ProgressSnapshot(stage: "evaluate", time: 2, done: 0, total: 2, tasksDone: 0, tasksTotal: 2))
        terminal.end()
        let out = written.withLock { $0 }
        #expect(out[0] == "before any bar\n")
        #expect(out[1].hasPrefix("\r\u{1B}[Ktrain ") && !out[1].contains("\n"))
        let bar = String(out[1].dropFirst(4))
        #expect(out[2] == "\r\u{1B}[Kw2 joined\n" + bar, "the log line replaces the bar, which is drawn again below it")
        #expect(out[3].hasPrefix("\r\u{1B}[Ktrain     finished in 0:02") && out[3].contains("\nevaluate "))
        #expect(out[4].hasPrefix("\r\u{1B}[Kevaluate  finished in 0:00") && out[4].hasSuffix("\n"))
        for text in out {
            for line in text.split(separator: "\n") { #expect(line.count <= 60 + 4) }
        }

        let plain = Locked([String]())
        let lines = ProgressTerminal(mode: .plain, write: { text in plain.withLock { $0.append(text) } })
        lines.show(train(10, at: 0))
        lines.log("w2 joined")
        lines.end()
        #expect(plain.withLock { $0 } == ["w2 joined\n"], "no control characters and no bar off a terminal")
    }
}

@Suite struct TreeCheckpointBatchTests {
    @Test func treesGoOutEveryKAndTheRestAtTheEnd() {
        var b = TreeCheckpointBatch(every: 3, first: 7)
        var sent: [(Int, Int)] = []
        for i in 7..<15 {
            if let full = b.add(Data([UInt8(i)]), index: i) { sent.append((full.first, full.trees.count)) }
        }
        if let rest = b.flush() { sent.append((rest.first, rest.trees.count)) }
        #expect(sent.map(\.0) == [7, 10, 13])
        #expect(sent.map(\.1) == [3, 3, 2])
        #expect(b.flush() == nil)
    }

    @Test func everyOneIsATreePerCheckpointAndLargeTreesCutABatchShort() {
        var one = TreeCheckpointBatch(every: 1, first: 0)
        #expect(one.add(Data([1]), index: 0)?.trees.count == 1)
        var limits = ProtocolLimits()
        limits.maxPayloadBytes = 400
        var big = TreeCheckpointBatch(every: 10, first: 0, limits: limits)
        #expect(big.add(Data(count: 60), index: 0) == nil)
        let cut = big.add(Data(count: 60), index: 1)
        #expect(cut?.first == 0 && cut?.trees.count == 2, "a quarter of the payload limit cuts the batch")
    }
}
