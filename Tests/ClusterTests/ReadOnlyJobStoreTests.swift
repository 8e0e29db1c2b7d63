import Foundation
import Testing

@testable import Cluster

/// `spacetime status` reads a store it cannot write: a read-only open, also of a
/// finished job whose WAL index is gone and cannot be created (then as immutable).
@Suite struct ReadOnlyJobStoreTests {
    @Test func aStoreOpensReadOnlyWithoutItsWALFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ro-store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/job.sqlite"
        do {
            let store = try JobStore(path: path)
            try store.createJob(
                JobSpec(
                    jobID: "job-7", dataFiles: ["d.csv"], parameters: Data(), seed: 42, partitions: 2,
                    testFraction: 0.2, trees: 4, maxAttempts: 3), now: 0)
        }
        let reader = try JobStore(readOnlyPath: path)
        #expect(try reader.jobSpec()?.jobID == "job-7")
        #expect(throws: JobStoreError.self) { try reader.setStage(.train, now: 1) }
        #expect(try JobStore(readOnlyPath: path).stage() == .extract, "nothing was written")
        #expect(throws: JobStoreError.self) { try JobStore(readOnlyPath: dir + "/missing.sqlite") }
    }
}
