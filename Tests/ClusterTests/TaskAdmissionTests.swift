import Foundation
import Testing

@testable import Cluster

@Suite struct TaskAdmissionTests {
    func train(rows: UInt64, features: UInt32 = 50, wordsPerBin: UInt32 = 2) -> WireTaskAssignment {
        var a = WireSamples.assignment(kind: .train)
        a.partition = 3
        a.schema.columnCount = features + 1
        a.expectedTrainRows = rows
        a.classes = wordsPerBin  // the wire field carries histogram words per bin
        return a
    }

    @Test func trainFitsOrIsRefusedWithAClearMessage() {
        let ok = TaskAdmission.check(train(rows: 1_000_000), memoryLimit: 512 << 20, threads: 2)
        #expect(ok.accepted && ok.message == nil)
        let big = TaskAdmission.check(train(rows: 10_000_000), memoryLimit: 512 << 20, threads: 2)
        #expect(!big.accepted)
        #expect(big.neededBytes > 512 << 20)
        #expect(big.message?.hasPrefix("train/p3 needs ~") == true, "\(big.message ?? "")")
        #expect(
            big.message?.contains(
                "(10000000 training rows × 50 features: 629 MiB, their bins copied row-major: 477 MiB, histograms for 2 threads: 1.2 MiB; baseline 48 MiB) but this worker's memory limit is 512 MiB, of which tasks may use 325 MiB; use more partitions or a larger --memory-limit"
            ) == true, "\(big.message ?? "")")
    }

    @Test func moreThreadsAndHistogramWordsNeedMoreMemory() {
        let one = TaskAdmission.check(train(rows: 10, features: 500, wordsPerBin: 10), memoryLimit: 512 << 20, threads: 1)
        let eight = TaskAdmission.check(train(rows: 10, features: 500, wordsPerBin: 10), memoryLimit: 512 << 20, threads: 8)
        #expect(one.neededBytes < eight.neededBytes)
        let two = TaskAdmission.check(train(rows: 10, features: 500, wordsPerBin: 2), memoryLimit: 512 << 20, threads: 1)
        #expect(two.neededBytes < one.neededBytes)
        let histograms =
            PartitionPlanner.histogramBytes(features: 500, histogramWordsPerBin: 10, threads: 1)
            - PartitionPlanner.histogramBytes(features: 500, histogramWordsPerBin: 2, threads: 1)
        #expect(one.neededBytes - two.neededBytes == histograms)
        // 0 (unknown) is sized as 2 words, like a regression or binary classification cell
        #expect(
            TaskAdmission.check(train(rows: 10, features: 500, wordsPerBin: 0), memoryLimit: 512 << 20, threads: 1).neededBytes
                == two.neededBytes)
    }

    @Test func evaluateCountsTheModelAsItLoadsAndItsTestRows() {
        var a = WireSamples.assignment(kind: .evaluate)
        a.partition = 0
        a.schema.columnCount = 51
        a.model.ref.size = 157 << 20
        // 512 MiB - 48 MiB baseline, 70%: 325 MiB for the task; the model loads at 3 × 157 MiB.
        let v = TaskAdmission.check(a, memoryLimit: 512 << 20, threads: 1)
        #expect(!v.accepted)
        #expect(v.neededBytes == 3 * (157 << 20) + (48 << 20))
        #expect(
            v.message
                == "evaluate/p0 needs ~519 MiB (a 157 MiB model × 3 while it loads: 471 MiB; baseline 48 MiB) but this worker's memory limit is 512 MiB, of which tasks may use 325 MiB; give the workers a larger --memory-limit (a failed job continues with --resume, its trees kept)"
        )
        a.model.ref.size = 100 << 20
        #expect(TaskAdmission.check(a, memoryLimit: 512 << 20, threads: 1).accepted)
        // The partition's test rows count too (binned, like training rows).
        a.expectedTestRows = 1_000_000
        let rows = TaskAdmission.check(a, memoryLimit: 512 << 20, threads: 1)
        #expect(!rows.accepted)
        #expect(rows.neededBytes == 3 * (100 << 20) + 1_000_000 * 66 + (48 << 20))
        #expect(rows.message?.contains("1000000 test rows × 50 features: 62.9 MiB") == true, "\(rows.message ?? "")")
    }

    @Test func trainCountsTheTreesInFlight() {
        var a = train(rows: 100_000)
        let without = TaskAdmission.check(a, memoryLimit: 512 << 20, threads: 2)
        a.expectedTreeBytes = 20 << 20
        a.checkpointEvery = 1
        let with = TaskAdmission.check(a, memoryLimit: 512 << 20, threads: 2)
        // two trees being grown (one per thread) and one finished, not yet sent
        #expect(with.neededBytes - without.neededBytes == 3 * (20 << 20))
        a.expectedTreeBytes = 200 << 20
        let refused = TaskAdmission.check(a, memoryLimit: 512 << 20, threads: 2)
        #expect(!refused.accepted)
        #expect(refused.message?.contains("3 trees in flight × 200 MiB: 600 MiB") == true, "\(refused.message ?? "")")
        var range = a
        var v = WireTaskVariant()
        v.trees = range.trees
        range.variant = v
        #expect(TaskAdmission.check(range, memoryLimit: 512 << 20, threads: 2).message?.hasPrefix("train/p3.t4-13 needs") == true)
    }

    @Test func extractionIsAlwaysAdmittedAndOverflowIsSafe() {
        #expect(TaskAdmission.check(WireSamples.assignment(kind: .extract), memoryLimit: 1, threads: 1).accepted)
        let absurd = TaskAdmission.check(train(rows: UInt64.max / 2), memoryLimit: 512 << 20, threads: 1)
        #expect(!absurd.accepted && absurd.neededBytes == UInt64.max)
    }

    @Test func workerRefusesInsteadOfRunning() {
        let w = WorkerEngine(identity: .init(workerID: "w2", host: "h", pid: 4121, cores: 2, memoryLimit: 512 << 20))
        _ = w.connected(at: 0)
        _ = w.receive(frames: (try? WireSamples.welcome(session: 5).encodeFrames()) ?? [], at: 0)
        var a = train(rows: 50_000_000)
        a.attemptID = 12
        let out = w.receive(frames: (try? WireMessage(.assignment(a), seq: 2, session: 5).encodeFrames()) ?? [], at: 1)
        #expect(!out.contains { if case .run = $0 { true } else { false } })
        let failed = out.compactMap { if case .send(let m) = $0, case .failed(let f) = m.body { f } else { nil } }.first
        #expect(failed?.reason == .memoryBudget && failed?.retryable == true && failed?.attemptID == 12)
        #expect(w.runningAttempts.isEmpty)
    }
}

extension TaskAdmission {
    /// The check of `a` as the worker engine makes it: after converting the wire message.
    fileprivate static func check(_ a: WireTaskAssignment, memoryLimit: UInt64, threads: Int) -> Verdict {
        check(try! TaskAssignment(wire: a), memoryLimit: memoryLimit, threads: threads)
    }
}
