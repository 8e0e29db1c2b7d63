import Forest
import Foundation
import SpaceTime
import Testing

@testable import Cluster

/// A worker locates a bad record in the file its row batch names: `source_file` k ≥ 1 is the
/// job's k-th file (its parameters' list), 0 the job's input; an index beyond the list fails
/// the attempt as a protocol error, not as bad input.
@Suite struct ExecutorSourceFileTests {
    /// An extract attempt of a job over `files`, built and published as the executor does.
    private func extractAttempt(files: [String], spillBase: String) throws -> (ExecutorContext, ExecutorAttempt) {
        let options = ForestTaskExecutor.Options(spillBase: spillBase)
        let context = ExecutorContext(
            options: options, registry: AttemptRegistry(),
            spillDirectory: try SpillDirectory(base: spillBase), outlet: EventOutlet())
        var a = WireSamples.task(kind: .extract, attemptID: 21)
        let schema = DatasetSchema(
            header: ["f0", "f1", "label"], targetIndex: 2, task: .classification,
            featureIndices: [0, 1], featureKinds: [.numeric, .numeric])
        var parameters = ForestJobParameters(forest: ForestParameters(), schema: schema, source: "parts")
        parameters.files = files
        a.parameters = parameters.serialize()
        let attempt = try ExtractRunner(context: context).makeAttempt(a, try AttemptConfiguration(a))
        context.registry.publish(attempt)
        return (context, attempt)
    }

    /// One batch of `records` from line 4 on, of file `sourceFile`.
    private func batch(_ records: [String], sourceFile: UInt32) -> (WireRowBatch, Data) {
        var b = WireRowBatch()
        b.attemptID = 21
        b.firstLine = 4
        b.lineDeltas = Array(repeating: 1, count: records.count - 1)
        b.recordLengths = records.map { UInt32($0.utf8.count) }
        b.testMask = Data(repeating: 0, count: (records.count + 7) / 8)
        b.sourceFile = sourceFile
        return (b, Data(records.joined().utf8))
    }

    private func failure(_ event: WorkerEvent?) -> (
        reason: WireFailureReason, message: String, line: UInt64, column: UInt32, retryable: Bool
    )? {
        guard case .failed(_, let failure, _)? = event else { return nil }
        let f = failure.wire(taskID: 0, attemptID: 21, peakRSS: 0)
        return (f.reason, f.message, f.line, f.column, f.retryable)
    }

    @Test func aBadValueIsLocatedInTheBatchsFile() throws {
        let spillBase = NSTemporaryDirectory() + "st-source-file-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: spillBase, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: spillBase) }
        let files = ["parts/part-00000.csv", "parts/part-00001.csv", "parts/part-00002.csv", "parts/part-00003.csv"]
        for (sourceFile, name) in [(UInt32(3), "parts/part-00002.csv"), (1, "parts/part-00000.csv"), (0, "parts")] {
            let (context, attempt) = try extractAttempt(files: files, spillBase: spillBase)
            #expect(attempt.fileName(sourceFile) == name)
            // Line 4 parses; line 5 holds a text in the numeric column f1.
            let (b, payload) = batch(["1.5,2.5,a", "1.5,abc,b"], sourceFile: sourceFile)
            let f = try #require(failure(context.parsePartitionRows(attempt, b, payload) { _ in true }))
            #expect(f.reason == .badInput && !f.retryable)
            #expect(f.message.hasPrefix("\(name): line 5, column 2 (`f1`): expected a number, found `abc`"), "\(f.message)")
            #expect(f.line == 5 && f.column == 2)
        }
    }

    @Test func aSourceFileBeyondTheJobsFilesIsAProtocolError() throws {
        let spillBase = NSTemporaryDirectory() + "st-source-file-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: spillBase, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: spillBase) }
        for (files, sourceFile) in [(["a.csv", "b.csv"], UInt32(3)), ([], 1)] {
            let (context, attempt) = try extractAttempt(files: files, spillBase: spillBase)
            #expect(attempt.fileName(sourceFile) == nil)
            let (b, payload) = batch(["1.5,2.5,a"], sourceFile: sourceFile)
            let f = try #require(failure(context.parsePartitionRows(attempt, b, payload) { _ in true }))
            #expect(f.reason == .protocol && f.retryable)
            #expect(f.message.contains("source file \(sourceFile) of a job with \(files.count) file(s)"), "\(f.message)")
            #expect(context.registry.received(attempt) == 0, "no record of the batch is taken")
        }
    }
}
