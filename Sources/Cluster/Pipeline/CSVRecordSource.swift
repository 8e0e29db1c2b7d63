import Foundation
import SpaceTime

/// The coordinator's view of the CSV: records split by the core module's
/// reader, only the label field extracted, each record assigned to a
/// partition and to train or test by `StratifiedAssigner` in file order —
/// exactly as `SingleProcessTraining` assigns them, so both runs see the same
/// partitions (stratified by the label's text, or in one stratum when
/// `stratify` is false: a regression target). The raw bytes are forwarded;
/// workers parse the values.
///
/// With a `testPath` (`--test-file`), the training file's records come first,
/// then every record of the test file as a test row, spread over the
/// partitions by its own `StratifiedAssigner(seed:, testFraction: 0, partitions:)`
/// in file order, as `SingleProcessTraining` does. Its line numbers are its
/// own (they restart at 2), which `RowPass` handles by starting a new batch.
///
/// With `numbersFiles` every record carries its file's number in reading order (the
/// training input's parts, then the test input's, from 1: `ForestJobParameters.files`),
/// so a worker names the part file its line is in; without, every record's is 0.
public final class CSVRecordSource: RecordSource {
    private var reader: CSVReader
    private var assigner: StratifiedAssigner
    /// A cross-validation job's fold dealer (over the training file).
    private var folds: StratifiedFoldAssigner?
    private let labelIndex: Int
    private let stratify: Bool
    private let options: CSVOptions
    private let seed: UInt64
    private let partitions: Int
    /// The test file still to read after the training file, and whether `reader` is the test file's now.
    private var pendingTestPath: String?
    private var readingTestFile = false
    private let numbersFiles: Bool
    /// Files read before `reader`'s (the training input's parts, once on the test file).
    private var filesBefore = 0
    private var bytesBefore = 0
    /// Bytes read so far over both files.
    public var bytesRead: Int { bytesBefore + reader.bytesRead }

    public init(
        path: String, labelIndex: Int, stratify: Bool = true, seed: UInt64, testFraction: Double, partitions: Int,
        testPath: String? = nil, options: CSVOptions = CSVOptions(), numbersFiles: Bool = false, folds: Int = 0
    ) throws {
        do {
            reader = try CSVReader(path: path, options: options)
        } catch {
            throw PipelineError(wrapping: error)
        }
        do {
            assigner = try StratifiedAssigner(seed: seed, testFraction: testPath == nil ? testFraction : 0, partitions: partitions)
            if folds > 0 {
                guard folds <= Int(UInt8.max) + 1 else { throw PipelineError(.badParameters, "\(folds) folds: at most 256") }
                self.folds = try StratifiedFoldAssigner(seed: seed, folds: folds)
            }
        } catch {
            throw PipelineError(wrapping: error)
        }
        self.labelIndex = labelIndex
        self.stratify = stratify
        self.options = options
        self.seed = seed
        self.partitions = partitions
        self.numbersFiles = numbersFiles
        pendingTestPath = testPath
        reader.extractOnly(column: labelIndex)
    }

    deinit { reader.close() }

    /// Switches to the test file (same header required) with a fresh assigner.
    private func openTestFile(_ path: String) throws {
        let next: CSVReader
        do { next = try CSVReader(path: path, options: options) } catch { throw PipelineError(wrapping: error) }
        guard next.header == reader.header else {
            next.close()
            throw PipelineError(
                .badInput,
                "--test-file \(path): its header differs from the training file \(reader.file)'s; the test file needs the same columns in the same order"
            )
        }
        do {
            assigner = try StratifiedAssigner(seed: seed, testFraction: 0, partitions: partitions)
        } catch {
            next.close()
            throw PipelineError(wrapping: error)
        }
        bytesBefore += reader.bytesRead
        filesBefore += reader.parts.count
        reader.close()
        reader = next
        reader.extractOnly(column: labelIndex)
        readingTestFile = true
    }

    public func next() throws -> SourceRecord? {
        var record: CSVRecord?
        do {
            record = try reader.next()
        } catch {
            throw PipelineError(wrapping: error)
        }
        if record == nil, let testPath = pendingTestPath {
            pendingTestPath = nil
            try openTestFile(testPath)
            do {
                record = try reader.next()
            } catch {
                throw PipelineError(wrapping: error)
            }
        }
        guard let record else { return nil }
        if record.isMissing(at: labelIndex) {
            throw PipelineError(
                .badInput,
                "\(record.file):\(record.line): column \(labelIndex + 1)\(record.columnName(labelIndex).map { " (\(quoteForMessage($0)))" } ?? ""): missing label",
                location: TaskFailure.Location(file: record.file, line: record.line, column: labelIndex + 1)
            )
        }
        let assignment =
            stratify
            ? record.withField(at: labelIndex) { assigner.assign(classBytes: $0) }
            : assigner.assign(classKey: "")
        var fold: UInt8?
        if folds != nil {
            // The dealer of `spacetime cv`, over the same records in the same order: the same folds.
            let k = stratify ? record.withField(at: labelIndex) { folds!.fold(classBytes: $0) } : folds!.fold(classKey: "")
            fold = UInt8(k)
        }
        let bytes = record.withRawBytes { Data($0) }
        return SourceRecord(
            line: UInt64(record.line), partition: assignment.partition,
            isTest: readingTestFile || assignment.isTest, bytes: bytes,
            file: numbersFiles ? UInt32(filesBefore + reader.partIndex + 1) : 0, fold: fold)
    }
}
