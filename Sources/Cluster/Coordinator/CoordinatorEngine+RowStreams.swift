import Foundation
import Logging
import SpaceTime

// Row streams: the rows the shell streams to extract and predict attempts, under credit.

extension CoordinatorEngine {
    /// Streamed attempts that may still receive rows, by partition.
    public var rowStreams: [(partition: Int, attemptID: UInt64)] {
        streams.values.map { ($0.partition, $0.attemptID) }.sorted { $0.partition < $1.partition }
    }

    /// Whether a batch of `bytes` may be sent to `attemptID` now (credit).
    public func canSendRows(to attemptID: UInt64, bytes: Int) -> Bool {
        streams[attemptID]?.credit.canSend(bytes: bytes) ?? false
    }

    /// Sends one batch of records (already cut by the shell) to `attemptID`, all of file
    /// `sourceFile` (the row batch's `source_file`; 0: the single input). Returns nothing
    /// when the attempt has no stream or no credit.
    public func sendRows(
        to attemptID: UInt64, firstLine: UInt64, lineDeltas: [UInt32], recordLengths: [UInt32],
        testMask: Data, folds: Data = Data(), trainRows: Int, payload: Data, sourceFile: UInt32 = 0, at time: EngineTime
    ) -> [CoordinatorOutput] {
        guard var stream = streams[attemptID], (try? stream.credit.sent(bytes: payload.count)) != nil else { return [] }
        var batch = WireRowBatch()
        batch.attemptID = attemptID
        batch.batchSeq = stream.nextBatch
        batch.firstLine = firstLine
        batch.lineDeltas = lineDeltas
        batch.recordLengths = recordLengths
        batch.testMask = testMask
        batch.folds = folds
        batch.sourceFile = sourceFile
        stream.nextBatch += 1
        stream.rows += UInt64(recordLengths.count)
        stream.trainRows += UInt64(trainRows)
        stream.testRows += UInt64(recordLengths.count - trainRows)
        streams[attemptID] = stream
        var out: [CoordinatorOutput] = []
        send(.rowBatch(batch), payload: payload, to: stream.peer, at: time, into: &out)
        return out
    }

    /// Ends `attemptID`'s row stream (all its partition's rows were sent).
    public func endRows(to attemptID: UInt64, at time: EngineTime) -> [CoordinatorOutput] {
        guard let stream = streams.removeValue(forKey: attemptID) else { return [] }
        var end = WireRowsEnd()
        end.attemptID = attemptID
        end.batches = stream.nextBatch
        end.rows = stream.rows
        end.trainRows = stream.trainRows
        end.testRows = stream.testRows
        var out: [CoordinatorOutput] = []
        send(.rowsEnd(end), to: stream.peer, at: time, into: &out)
        return out
    }
}
