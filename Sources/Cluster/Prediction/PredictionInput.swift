import Forest
import Foundation
import SpaceTime

/// The file a distributed prediction indexes and seeks in. A plain single file is used as it
/// is; a compressed file or a directory or glob of parts is first written once, decompressed
/// and concatenated (one header, each record's bytes and a LF), to `JOB-DIR/input.csv`. That
/// copy is read with the original's located errors: every record's features are parsed on
/// the way, so a bad value is reported with its part file and line before any worker sees it.
enum PredictionInput {
    /// The copy's name inside the job directory.
    static let fileName = "input.csv"

    /// Whether `path` must be copied before it can be indexed by byte offset.
    static func needsCopy(_ path: String) throws -> Bool {
        do { return !(try CSVInput(path: path)).isSinglePlainFile } catch { throw PipelineError(wrapping: error) }
    }

    /// Writes the text of `path` to `destination` (atomically), in the same format (`options`:
    /// its delimiter, and a header only when the input has one); returns the records written.
    static func copy(_ path: String, to destination: String, parser: RecordParser, options: CSVOptions = CSVOptions()) throws -> Int {
        let reader: CSVReader
        do { reader = try CSVReader(path: path, options: options) } catch {
            throw PipelineError(wrapping: error)
        }
        defer { reader.close() }
        let writer: AtomicFileWriter
        do { writer = try AtomicFileWriter(path: destination) } catch { throw PipelineError(.io, "\(destination): \(error)") }
        var pending: [UInt8] = []
        if options.hasHeader {
            pending = reader.headerRecord
            pending.append(0x0A)
        }
        let features = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(1, parser.schema.featureCount))
        defer { features.deallocate() }
        var rows = 0
        do {
            while let record = try reader.next() {
                try parser.parseFeatures(record, into: features)
                record.withRawBytes { pending.append(contentsOf: $0) }
                pending.append(0x0A)
                rows += 1
                if pending.count >= 1 << 20 {
                    try writer.append(pending)
                    pending.removeAll(keepingCapacity: true)
                }
            }
            try writer.append(pending)
            try writer.commit()
        } catch let error as CSVError {
            writer.abort()
            throw PipelineError(wrapping: error)
        } catch {
            writer.abort()
            throw PipelineError(.io, "\(destination): \(error)")
        }
        return rows
    }
}
