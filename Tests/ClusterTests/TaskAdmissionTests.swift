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
        #expect(big.message == "train/p3 needs ~679 MiB (10000000 training rows × 50 features) but this worker's memory limit is 512 MiB; use more partitions or a larger --memory-limit")
        #expect(big.message?.contains("(10000000 training rows × 50 features) but this worker's memory limit is 512 MiB") == true)
    }

    @Test func moreThreadsAndHistogramWordsNeedMoreMemory() {
        let one = TaskAdmission.check(train(rows: 10, features: 500, wordsPerBin: 10), memoryLimit: 512 << 20, threads: 1)
        let eight = TaskAdmission.check(train(rows: 10, features: 500, wordsPerBin: 10), memoryLimit: 512 << 20, threads: 8)
        #expect(one.neededBytes < eight.neededBytes)
        let two = TaskAdmission.check(train(rows: 10, features: 500, wordsPerBin: 2), memoryLimit: 512 << 20, threads: 1)
        #expect(two.neededBytes < one.neededBytes)
        let histograms = PartitionPlanner.histogramBytes(features: 500, histogramWordsPerBin: 10, threads: 1)
            - PartitionPlanner.histogramBytes(features: 500, histogramWordsPerBin: 2, threads: 1)
        #expect(one.neededBytes - two.neededBytes == histograms)
        // 0 (unknown) is sized as 2 words, like a regression or binary classification cell
        #expect(TaskAdmission.check(train(rows: 10, features: 500, wordsPerBin: 0), memoryLimit: 512 << 20, threads: 1).neededBytes
                == two.neededBytes)
    }

    @Test func evaluateChecksTheModelSize() {
        var a = WireSamples.assignment(kind: .evaluate)
        a.model.ref.size = 900 << 20
        let v = TaskAdmission.check(a, memoryLimit: 512 << 20, threads: 1)
        #expect(!v.accepted)
        #expect(v.message?.contains("(a 900 MiB model)") == true)
        a.model.ref.size = 10 << 20
        #expect(TaskAdmission.check(a, memoryLimit: 512 << 20, threads: 1).accepted)
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
