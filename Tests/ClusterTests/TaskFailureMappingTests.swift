import Forest
import Foundation
import SpaceTime
import Testing

@testable import Cluster

/// The errors of the Forest and Cluster layers as task failures, a wrapping `PipelineError`
/// keeping the failure it wraps, the executor's mapping of a run's error, and the
/// `task_failed` wire form.
@Suite struct TaskFailureMappingTests {
    private struct Unknown: Error, CustomStringConvertible {
        var description: String { "something unforeseen" }
    }

    private let badValue = CSVError(
        code: .notANumber, file: "data.csv", line: 18_204, column: 7, columnName: "f6", message: "expected a number, found `abc`")

    @Test func aPipelineErrorWrappingACSVErrorKeepsItsLocation() {
        let e = PipelineError(wrapping: badValue)
        #expect(e.code == .badInput && !e.retryable)
        #expect(e.message == "data.csv: line 18,204, column 7 (`f6`): expected a number, found `abc`")
        #expect("\(e)" == badValue.description, "the message is the wrapped error's")
        let failure = TaskFailure(e)
        #expect(failure.reason == .badInput && !failure.retryable)
        #expect(failure.location == TaskFailure.Location(file: "data.csv", line: 18_204, column: 7))
        let withContext = PipelineError(wrapping: badValue, context: "--test-file t.csv")
        #expect(withContext.message == "--test-file t.csv: \(badValue.description)" && withContext.location == e.location)
    }

    @Test func aPipelineErrorWrappingAReadFailureIsRetryableIO() {
        let e = PipelineError(wrapping: CSVError(code: .io, file: "data.csv", message: "read failed"))
        #expect(e.code == .io && e.retryable && TaskFailure(e).reason == .io)
        let spill = PipelineError(wrapping: SpillError(code: .io, message: "write: No space left on device"))
        #expect(spill.code == .io && spill.retryable && spill.message == "spill: write: No space left on device")
    }

    @Test func aPipelineErrorsCodeGivesItsFailure() {
        #expect(TaskFailure(PipelineError(.badInput, "x")) == TaskFailure(.badInput, "x"))
        #expect(TaskFailure(PipelineError(.badSchema, "x")).reason == .badParameters)
        let missing = TaskFailure(PipelineError(.missingSpill, "no rows"))
        #expect(missing.reason == .spillMissing && missing.retryable)
        let located = PipelineError(
            .badInput, "t.csv:4: column 3: missing label", location: TaskFailure.Location(file: "t.csv", line: 4, column: 3))
        #expect(TaskFailure(located).location?.line == 4)
        for reason in TaskFailure.Reason.allCases {
            #expect(PipelineError.Code(reason).reason == reason, "\(reason)")
        }
    }

    @Test func forestAndJobStoreErrors() {
        let data = TaskFailure(ForestError(.invalidData, "data.csv:12: label 'z' does not occur in the training rows"))
        #expect(data.reason == .badInput && !data.retryable && data.message.hasPrefix("data.csv:12: label"))
        #expect(TaskFailure(ForestError(.invalidParameter, "--trees 0")).reason == .badParameters)
        #expect(TaskFailure(ForestError(.io, "m.stm: short write")).retryable)
        let store = TaskFailure(JobStoreError(.database, "disk I/O error", path: "job.sqlite"))
        #expect(store.reason == .io && store.retryable && store.message == "job store job.sqlite: disk I/O error [database]")
        #expect(TaskFailure(ProtocolError(.outOfRange, "too many rows")).reason == .protocol)
    }

    /// `ExecutorContext.runFailure`: a run's error through `TaskFailure(error)`; bad input is
    /// reported as it is, anything else prefixed with the task.
    @Test func theExecutorMapsARunsError() throws {
        let spillBase = NSTemporaryDirectory() + "st-task-failure-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: spillBase, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: spillBase) }
        let context = ExecutorContext(
            options: ForestTaskExecutor.Options(spillBase: spillBase), registry: AttemptRegistry(),
            spillDirectory: try SpillDirectory(base: spillBase), outlet: EventOutlet())
        let a = WireSamples.task(kind: .train, attemptID: 7)
        func failure(_ error: any Error) -> TaskFailure? {
            guard case .failed(_, let failure, _) = context.runFailure(error, a, step: "train") else { return nil }
            return failure
        }
        let bad = try #require(failure(ForestError(.invalidData, "data.csv:12: label 'z' does not occur in the training rows")))
        #expect(bad.reason == .badInput && !bad.retryable && bad.message == "data.csv:12: label 'z' does not occur in the training rows")
        let wrapped = try #require(failure(PipelineError(wrapping: badValue)))
        #expect(wrapped.location == TaskFailure.Location(file: "data.csv", line: 18_204, column: 7))
        let disk = try #require(failure(SpillError(code: .io, message: "write: No space left on device")))
        #expect(disk.reason == .io && disk.retryable && disk.message == "train/p\(a.partition): spill: write: No space left on device")
        let unknown = try #require(failure(Unknown()))
        #expect(unknown.reason == .internal && unknown.retryable && unknown.message == "train/p\(a.partition): something unforeseen")
    }

    @Test func theWireFormKeepsReasonLineColumnAndRetryability() {
        let failure = TaskFailure(badValue)
        let wire = failure.wire(taskID: 3, attemptID: 7, peakRSS: 1 << 20)
        #expect(wire.reason == .badInput && !wire.retryable && wire.line == 18_204 && wire.column == 7)
        #expect(wire.taskID == 3 && wire.attemptID == 7 && wire.peakRssBytes == 1 << 20 && wire.message == badValue.description)
        let back = TaskFailure(wire: wire)
        #expect(back.reason == .badInput && !back.retryable && back.message == failure.message)
        #expect(back.location == TaskFailure.Location(line: 18_204, column: 7), "the file travels in the message")

        let io = TaskFailure(wire: TaskFailure(.io, "spill: full").wire(taskID: 1, attemptID: 2, peakRSS: 0))
        #expect(io == TaskFailure(.io, "spill: full"), "no location when line and column are 0")
        #expect(TaskFailure(.badParameters, "x").wire(taskID: 1, attemptID: 2, peakRSS: 0).reason == .badInput)

        var stubborn = wire
        stubborn.retryable = true
        #expect(!TaskFailure(wire: stubborn).retryable, "bad input is final whatever the flag says")
        var unknown = WireTaskFailed()
        unknown.reason = .UNRECOGNIZED(42)
        unknown.retryable = true
        #expect(TaskFailure(wire: unknown).reason == .internal)
        for reason in TaskFailure.Reason.allCases where reason != .badParameters {
            #expect(TaskFailure.Reason(wire: reason.wire) == reason, "\(reason)")
        }
    }

    @Test func anAttemptFailureIsRetryableAsItsReportSays() {
        let final = AttemptFailure(
            .reported(TaskFailure(wire: TaskFailure(badValue).wire(taskID: 1, attemptID: 2, peakRSS: 0))), workerID: "w1")
        #expect(!final.retryable)
        #expect(final.description == "worker w1 reported: \(badValue.description)")
        #expect(AttemptFailure(.reported(TaskFailure(.io, "spill: full")), workerID: "w1").retryable)
        #expect(!AttemptFailure(.reported(TaskFailure(.protocol, "the blob is not a model", retryable: false)), workerID: "w1").retryable)
    }
}
