import Foundation
import SpaceTime

/// The coordinator's view of the CSV: records split by the core module's
/// reader, only the label field extracted, each record assigned to a
/// partition and to train or test by `StratifiedAssigner` in file order —
/// exactly as `SingleProcessTraining` assigns them, so both runs see the same
/// partitions (stratified by the label's text, or in one stratum when
/// `stratify` is false: a regression target). The raw bytes are forwarded;
/// workers parse the values.
public final class CSVRecordSource: RecordSource {
    private let reader: CSVReader
    private var assigner: StratifiedAssigner
    private let labelIndex: Int
    private let stratify: Bool
    public var bytesRead: Int { reader.bytesRead }

    public init(path: String, labelIndex: Int, stratify: Bool = true, seed: UInt64, testFraction: Double, partitions: Int,
                options: CSVOptions = CSVOptions()) throws {
        do {
            reader = try CSVReader(path: path, options: options)
        } catch {
            throw PipelineError(.io, error.description)
        }
        do {
            assigner = try StratifiedAssigner(seed: seed, testFraction: testFraction, partitions: partitions)
        } catch {
            throw PipelineError(.badParameters, error.description)
        }
        self.labelIndex = labelIndex
        self.stratify = stratify
        reader.extractOnly(column: labelIndex)
    }

    deinit { reader.close() }

    public func next() throws -> SourceRecord? {
        let record: CSVRecord?
        do {
            record = try reader.next()
        } catch {
            throw PipelineError(.badInput, error.description)
        }
        guard let record else { return nil }
        if record.isMissing(at: labelIndex) {
            throw PipelineError(.badInput,
                                "\(record.file):\(record.line): column \(labelIndex + 1)\(record.columnName(labelIndex).map { " ('\($0)')" } ?? ""): missing label")
        }
        let assignment = stratify ? record.withField(at: labelIndex) { assigner.assign(classBytes: $0) }
                                  : assigner.assign(classKey: "")
        let bytes = record.withRawBytes { Data($0) }
        return SourceRecord(line: UInt64(record.line), partition: assignment.partition, isTest: assignment.isTest, bytes: bytes)
    }
}
