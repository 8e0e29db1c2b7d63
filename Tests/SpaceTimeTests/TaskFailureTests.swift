import Foundation
import TestSupport
import Testing

@testable import SpaceTime

/// Errors as task failures (`TaskFailure(error)`): the reason, whether another attempt can
/// help, the location in the input and the message each error type gives.
@Suite struct TaskFailureTests {
    private struct Unknown: Error, CustomStringConvertible {
        var description: String { "something unforeseen" }
    }

    @Test func aCSVErrorIsBadInputAtItsLineAndColumn() throws {
        let dir = TempDir("task-failure")
        defer { dir.cleanup() }
        let p = dir.write("bad.csv", "a,b,c\n1,2,3\n4,5,abc\n")
        let reader = try CSVReader(path: p)
        defer { reader.close() }
        var thrown: (any Error)?
        do { while let r = try reader.next() { for i in 0..<r.count { _ = try r.double(at: i) } } } catch { thrown = error }
        let failure = TaskFailure(try #require(thrown))
        #expect(failure.reason == .badInput)
        #expect(!failure.retryable)
        #expect(failure.location == TaskFailure.Location(file: p, line: 3, column: 3))
        #expect(failure.message == "\(p): line 3, column 3 (`c`): expected a number, found `abc`")
        #expect(failure.message == "\(try #require(thrown))", "the message is the error's description")
    }

    @Test func aCSVReadFailureIsRetryableIO() {
        let failure = TaskFailure(CSVError(code: .io, file: "data.csv", message: "read failed: Input/output error"))
        #expect(failure.reason == .io && failure.retryable)
        #expect(failure.location == TaskFailure.Location(file: "data.csv"))
    }

    @Test func aSpillErrorIsRetryableIO() {
        let full = SpillError(SystemError(call: "write", path: "/tmp/spill/rows-1", errno: ENOSPC))
        let failure = TaskFailure(full)
        #expect(failure.reason == .io && failure.retryable)
        #expect(failure.location == nil)
        #expect(failure.message == full.description && failure.message.hasPrefix("spill: write(/tmp/spill/rows-1) failed: "))
        let damaged = TaskFailure(SpillError(code: .corrupt, message: "rows-1: block 3 is truncated"))
        #expect(damaged.reason == .io && damaged.retryable, "a damaged spill block is this worker's disk, not the data")
    }

    @Test func anUnknownErrorIsInternalAndRetryable() {
        let failure = TaskFailure(Unknown())
        #expect(failure.reason == .internal && failure.retryable)
        #expect(failure.message == "something unforeseen" && failure.location == nil)
    }

    @Test func otherErrorTypes() {
        #expect(TaskFailure(SystemError(call: "open", path: "x", errno: EACCES)).reason == .io)
        let sampling = TaskFailure(SamplingError(code: .invalidFraction, message: "--test-fraction 1.5 is not in [0, 1)"))
        #expect(sampling.reason == .badParameters && !sampling.retryable)
        let checkpoint = TaskFailure(CheckpointError(code: .corrupt, path: "m.stm", message: "checksum mismatch"))
        #expect(checkpoint.reason == .badInput && !checkpoint.retryable && checkpoint.message == "checkpoint m.stm: checksum mismatch")
        #expect(TaskFailure(CheckpointError(code: .io, path: "m.stm", message: "short write")).retryable)
    }

    @Test func aFailureIsItsOwnMappingAndKeepsItsFlag() {
        let final = TaskFailure(.protocol, "the blob is not a model", retryable: false)
        #expect(TaskFailure(final) == final)
        #expect(TaskFailure(.cancelled, "cancelled").retryable && !TaskFailure(.badParameters, "x").retryable)
    }

    @Test func contextAndLocationAreAdded() {
        let located = TaskFailure(.badInput, "label 'x' is unknown").located(file: "part-2.csv", line: 40)
        #expect(located.location == TaskFailure.Location(file: "part-2.csv", line: 40))
        let csv = TaskFailure(CSVError(code: .notANumber, file: "a.csv", line: 7, column: 2, message: "m"))
        #expect(csv.located(file: "b.csv", line: 9).location == csv.location, "a failure's own line is kept")
        #expect(TaskFailure(Unknown()).prefixed("train/p3").message == "train/p3: something unforeseen")
    }
}
