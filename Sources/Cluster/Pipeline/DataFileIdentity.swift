import Foundation
import SpaceTime

/// What a job remembers of each data file, so that `--resume` refuses a file replaced or
/// changed in place (which would mix trees of two data sets in one model): its size and
/// XXH64 digests of its first and last MiB. The modification time is recorded for the
/// message only — a copied file with the same bytes resumes.
public struct DataFileIdentity: Sendable, Equatable {
    public var size: UInt64
    public var modified: Double
    public var head: UInt64
    public var tail: UInt64

    static let window = 1 << 20

    /// Reads `path`'s size, modification time and edge digests.
    public init(path: String) throws {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw PipelineError(.io, "\(path): cannot read the data file's attributes: \(error.localizedDescription)")
        }
        size = (attributes[.size] as? NSNumber)?.uint64Value ?? 0
        modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        guard let handle = FileHandle(forReadingAtPath: path) else { throw PipelineError(.io, "\(path): cannot open the data file") }
        defer { try? handle.close() }
        do {
            head = XXHash64.hash(try handle.read(upToCount: Self.window) ?? Data())
            try handle.seek(toOffset: size > UInt64(Self.window) ? size - UInt64(Self.window) : 0)
            tail = XXHash64.hash(try handle.read(upToCount: Self.window) ?? Data())
        } catch {
            throw PipelineError(.io, "\(path): cannot read the data file: \(error.localizedDescription)")
        }
    }

    init(size: UInt64, modified: Double, head: UInt64, tail: UInt64) {
        self.size = size; self.modified = modified; self.head = head; self.tail = tail
    }

    /// How `current` differs from this recorded identity, as phrases; empty when the file is the same.
    public func differences(from current: DataFileIdentity) -> [String] {
        var d: [String] = []
        if current.size != size { d.append("size \(size) → \(current.size) bytes") }
        if current.head != head { d.append("its first MiB differs") }
        if current.tail != tail { d.append("its last MiB differs") }
        if !d.isEmpty && current.modified != modified {
            let f = ISO8601DateFormatter()
            d.append("modified \(f.string(from: Date(timeIntervalSince1970: modified))) → \(f.string(from: Date(timeIntervalSince1970: current.modified)))")
        }
        return d
    }

    /// `size modified head tail` in text (a job-store artifact).
    public var encoded: Data {
        Data("\(size) \(modified.bitPattern) \(String(head, radix: 16)) \(String(tail, radix: 16))".utf8)
    }

    public init?(encoded data: Data) {
        let f = String(decoding: data, as: UTF8.self).split(separator: " ")
        guard f.count == 4, let size = UInt64(f[0]), let m = UInt64(f[1]), let head = UInt64(f[2], radix: 16),
              let tail = UInt64(f[3], radix: 16) else { return nil }
        self.init(size: size, modified: Double(bitPattern: m), head: head, tail: tail)
    }
}
