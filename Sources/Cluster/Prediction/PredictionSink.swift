import Foundation

/// Where the coordinator engine hands a prediction job's results (the
/// prediction driver). Called on the ROUTER thread only.
public protocol PredictionSink: AnyObject {
    /// One batch of `batch.rows` predictions for `task`'s current attempt.
    /// Returns a message when the batch does not fit the task (the attempt
    /// then fails); throws only for local I/O errors.
    func predictions(attemptID: UInt64, task: TaskName, batch: WirePredictionBatch, payload: Data) throws -> String?
    /// The attempt reported `done` with `rows` rows: seal its block's part.
    /// Returns a message when the part is incomplete (the attempt then fails).
    func finish(attemptID: UInt64, task: TaskName, rows: UInt64) throws -> String?
    /// The attempt ended without finishing (failed, lost, cancelled): drop its partial part.
    func discard(attemptID: UInt64)
}
