import Foundation

/// One input record, already assigned to a partition and to train or test
/// (by the core module's stratified assigner); `bytes` is the raw record as
/// read, without its line terminator.
public struct SourceRecord: Sendable, Hashable {
    public var line: UInt64
    public var partition: Int
    public var isTest: Bool
    public var bytes: Data
    /// The file the record is in, as a row batch's `source_file`: k ≥ 1 is the job's k-th file
    /// (`ForestJobParameters.files`), 0 the single input. `line` is a line of that file.
    public var file: UInt32
    /// A cross-validation job's record: its fold (0-based, below 256); nil otherwise.
    public var fold: UInt8?

    public init(line: UInt64, partition: Int, isTest: Bool, bytes: Data, file: UInt32 = 0, fold: UInt8? = nil) {
        self.line = line
        self.partition = partition
        self.isTest = isTest
        self.bytes = bytes
        self.file = file
        self.fold = fold
    }
}

/// Where a pass reads records from (the CSV reader plus assigner in production).
public protocol RecordSource {
    /// The next record in file order, or nil at the end.
    mutating func next() throws -> SourceRecord?
}

/// The side of the coordinator that accepts row batches (`CoordinatorEngine`).
public protocol RowSink: AnyObject {
    var rowStreams: [(partition: Int, attemptID: UInt64)] { get }
    func canSendRows(to attemptID: UInt64, bytes: Int) -> Bool
    func sendRows(
        to attemptID: UInt64, firstLine: UInt64, lineDeltas: [UInt32], recordLengths: [UInt32],
        testMask: Data, folds: Data, trainRows: Int, payload: Data, sourceFile: UInt32, at time: EngineTime
    ) -> [CoordinatorOutput]
    func endRows(to attemptID: UInt64, at time: EngineTime) -> [CoordinatorOutput]
}

extension CoordinatorEngine: RowSink {}

/// One streaming pass over the input that feeds the row streams open when it
/// started (usually every partition's extract attempt at once, so the CSV is
/// read once). Records are cut into per-partition batches of at most
/// `batchRows` records and `batchBytes` bytes, all of one file (its `source_file`:
/// the worker names the file its line numbers are in); when a partition has no
/// credit the pass stops reading (holding one record), so the coordinator's memory
/// stays bounded by one open batch per partition. Records of partitions
/// outside the pass, or whose attempt ended mid-pass, are skipped: those
/// partitions need another pass.
public final class RowPass {
    public struct Limits: Sendable, Hashable {
        public var batchRows: Int
        public var batchBytes: Int
        public init(batchRows: Int = 4096, batchBytes: Int = 1 << 20) {
            self.batchRows = max(1, batchRows)
            self.batchBytes = max(1, batchBytes)
        }
    }

    struct Batch {
        var file: UInt32 = 0
        var firstLine: UInt64 = 0
        var lastLine: UInt64 = 0
        var lineDeltas: [UInt32] = []
        var lengths: [UInt32] = []
        var mask = Data()
        /// One byte per record in a cross-validation job, else empty.
        var folds = Data()
        var trainRows = 0
        var payload = Data()
        var isEmpty: Bool { lengths.isEmpty }
    }

    public let limits: Limits
    /// The partition → attempt this pass feeds, fixed at its start.
    public let targets: [Int: UInt64]
    private var source: any RecordSource
    private var batches: [Int: Batch] = [:]
    private var held: SourceRecord?
    private var sourceDone = false
    private var ended: Set<Int> = []
    /// True when the last `pump` stopped for lack of credit (it has nothing
    /// to do until credit arrives); false when it stopped at `maxRecords`.
    public private(set) var isBlocked = false
    public private(set) var recordsRead: UInt64 = 0
    public private(set) var recordsSkipped: UInt64 = 0

    /// A pass feeding every row stream `sink` has open now.
    public init(source: any RecordSource, sink: any RowSink, limits: Limits = Limits()) {
        self.source = source
        self.limits = limits
        var targets: [Int: UInt64] = [:]
        for stream in sink.rowStreams { targets[stream.partition] = stream.attemptID }
        self.targets = targets
    }

    /// True once every target got all its rows and its end marker (or lost its attempt).
    public var isFinished: Bool { sourceDone && ended.count == targets.count }

    /// Moves up to `maxRecords` records into batches and sends what credit
    /// allows. Returns the messages to send; call again when credit arrives.
    public func pump(into sink: any RowSink, at time: EngineTime, maxRecords: Int = 50_000) throws -> [CoordinatorOutput] {
        var out: [CoordinatorOutput] = []
        isBlocked = false
        let open = Set(sink.rowStreams.map(\.attemptID))
        for (partition, attemptID) in targets where !open.contains(attemptID) && !ended.contains(partition) {
            // The attempt ended (worker lost, cancelled): stop feeding it.
            ended.insert(partition)
            batches[partition] = nil
        }
        var moved = 0
        while moved < maxRecords, !sourceDone {
            let record: SourceRecord
            if let h = held {
                record = h
            } else if let next = try source.next() {
                record = next
                recordsRead += 1
            } else {
                sourceDone = true
                break
            }
            held = nil
            guard let attemptID = targets[record.partition], !ended.contains(record.partition) else {
                recordsSkipped += 1
                moved += 1
                continue
            }
            // Taken out of the dictionary while it grows: a copy left there would make
            // every append copy the whole batch (copy-on-write).
            var batch = batches.removeValue(forKey: record.partition) ?? Batch()
            let full =
                batch.lengths.count >= limits.batchRows
                || (!batch.isEmpty && batch.payload.count + record.bytes.count > limits.batchBytes)
                // One file per batch, lines only growing: a record of another part or of the test file starts a new one.
                || (!batch.isEmpty
                    && (record.file != batch.file || record.line < batch.lastLine
                        || record.line - batch.lastLine > UInt64(UInt32.max)))
            if full {
                guard sink.canSendRows(to: attemptID, bytes: batch.payload.count) else {
                    held = record  // blocked on this partition's credit
                    batches[record.partition] = batch
                    isBlocked = true
                    return out
                }
                out += send(batch, to: attemptID, sink, at: time)
                batch = Batch()
            }
            append(record, to: &batch)
            batches[record.partition] = batch
            moved += 1
        }
        if sourceDone {
            for partition in targets.keys.sorted() where !ended.contains(partition) {
                guard let attemptID = targets[partition] else { continue }
                if let batch = batches[partition], !batch.isEmpty {
                    guard sink.canSendRows(to: attemptID, bytes: batch.payload.count) else {
                        isBlocked = true
                        continue
                    }
                    out += send(batch, to: attemptID, sink, at: time)
                    batches[partition] = nil
                }
                out += sink.endRows(to: attemptID, at: time)
                ended.insert(partition)
            }
        }
        return out
    }

    private func append(_ record: SourceRecord, to batch: inout Batch) {
        let index = batch.lengths.count
        if index == 0 {
            batch.file = record.file
            batch.firstLine = record.line
        } else {
            batch.lineDeltas.append(UInt32(record.line - batch.lastLine))
        }
        batch.lastLine = record.line
        batch.lengths.append(UInt32(record.bytes.count))
        if index % 8 == 0 { batch.mask.append(0) }
        if let fold = record.fold { batch.folds.append(fold) }
        if record.isTest {
            batch.mask[batch.mask.count - 1] |= 1 << UInt8(index % 8)
        } else {
            batch.trainRows += 1
        }
        batch.payload.append(record.bytes)
    }

    private func send(_ batch: Batch, to attemptID: UInt64, _ sink: any RowSink, at time: EngineTime) -> [CoordinatorOutput] {
        sink.sendRows(
            to: attemptID, firstLine: batch.firstLine, lineDeltas: batch.lineDeltas, recordLengths: batch.lengths,
            testMask: batch.mask, folds: batch.folds, trainRows: batch.trainRows, payload: batch.payload, sourceFile: batch.file, at: time)
    }
}
