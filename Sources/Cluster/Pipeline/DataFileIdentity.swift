import Foundation
import SpaceTime

/// What a job remembers of its data, so that `--resume` refuses a file replaced or changed
/// in place (which would mix trees of two data sets in one model): for each file read (one,
/// or every part of a directory or glob, by name) its size and XXH64 digests of its first and
/// last MiB as stored (compressed bytes for `.gz` and `.zst`). The modification time is
/// recorded for the message only — a copied file with the same bytes resumes.
public struct DataFileIdentity: Sendable, Equatable {
    /// One file's identity.
    public struct Part: Sendable, Equatable {
        /// The file's name (the last path component): a directory moved elsewhere still matches.
        public var name: String
        public var size: UInt64
        public var modified: Double
        public var head: UInt64
        public var tail: UInt64
    }

    /// The files, in reading order.
    public var parts: [Part]
    /// Whether the data set is a directory or glob of parts (even of one part).
    public var isMultiPart: Bool

    static let window = 1 << 20

    /// Reads the size, modification time and edge digests of `path`'s files (`CSVInput`).
    public init(path: String) throws {
        let input: CSVInput
        do { input = try CSVInput(path: path) } catch { throw PipelineError(wrapping: error) }
        parts = try input.parts.map(Self.part)
        isMultiPart = input.isMultiPart
    }

    init(parts: [Part], isMultiPart: Bool) {
        self.parts = parts
        self.isMultiPart = isMultiPart
    }

    private static func part(_ path: String) throws -> Part {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw PipelineError(.io, "\(path): cannot read the data file's attributes: \(error.localizedDescription)")
        }
        let size = (attributes[.size] as? NSNumber)?.uint64Value ?? 0
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        guard let handle = FileHandle(forReadingAtPath: path) else { throw PipelineError(.io, "\(path): cannot open the data file") }
        defer { try? handle.close() }
        do {
            let head = XXHash64.hash(try handle.read(upToCount: window) ?? Data())
            try handle.seek(toOffset: size > UInt64(window) ? size - UInt64(window) : 0)
            let tail = XXHash64.hash(try handle.read(upToCount: window) ?? Data())
            return Part(name: (path as NSString).lastPathComponent, size: size, modified: modified, head: head, tail: tail)
        } catch {
            throw PipelineError(.io, "\(path): cannot read the data file: \(error.localizedDescription)")
        }
    }

    /// How `current` differs from this recorded identity, as phrases; empty when the data is the same.
    public func differences(from current: DataFileIdentity) -> [String] {
        if isMultiPart != current.isMultiPart {
            return [
                isMultiPart
                    ? "the job read a directory or glob of \(parts.count) part(s), this is one file"
                    : "the job read one file, this is a directory or glob of \(current.parts.count) part(s)"
            ]
        }
        if !isMultiPart, let a = parts.first, let b = current.parts.first { return Self.differences(a, b, prefix: "") }
        let names = parts.map(\.name)
        let currentNames = current.parts.map(\.name)
        if names != currentNames {
            let gone = names.filter { !currentNames.contains($0) }
            let added = currentNames.filter { !names.contains($0) }
            var d: [String] = []
            if !gone.isEmpty { d.append("part(s) gone: \(gone.prefix(5).joined(separator: ", "))\(gone.count > 5 ? ", …" : "")") }
            if !added.isEmpty { d.append("part(s) added: \(added.prefix(5).joined(separator: ", "))\(added.count > 5 ? ", …" : "")") }
            if d.isEmpty { d.append("the parts are in another order") }
            return d
        }
        return zip(parts, current.parts).flatMap { Self.differences($0, $1, prefix: "part \($0.name): ") }
    }

    private static func differences(_ a: Part, _ b: Part, prefix: String) -> [String] {
        var d: [String] = []
        if b.size != a.size { d.append("\(prefix)size \(a.size) → \(b.size) bytes") }
        if b.head != a.head { d.append("\(prefix)its first MiB differs") }
        if b.tail != a.tail { d.append("\(prefix)its last MiB differs") }
        if !d.isEmpty && b.modified != a.modified {
            let f = ISO8601DateFormatter()
            d.append(
                "modified \(f.string(from: Date(timeIntervalSince1970: a.modified))) → \(f.string(from: Date(timeIntervalSince1970: b.modified)))"
            )
        }
        return d
    }

    /// A job-store artifact in text: `size modified head tail` for one file; for parts, a first
    /// line `parts N` and then one `size modified head tail name` line per part.
    public var encoded: Data {
        func fields(_ p: Part) -> String { "\(p.size) \(p.modified.bitPattern) \(String(p.head, radix: 16)) \(String(p.tail, radix: 16))" }
        if !isMultiPart, let p = parts.first { return Data(fields(p).utf8) }
        return Data((["parts \(parts.count)"] + parts.map { fields($0) + " " + $0.name }).joined(separator: "\n").utf8)
    }

    public init?(encoded data: Data) {
        func part(_ line: Substring, named: Bool) -> Part? {
            let f = line.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: false)
            guard f.count == (named ? 5 : 4), let size = UInt64(f[0]), let m = UInt64(f[1]), let head = UInt64(f[2], radix: 16),
                let tail = UInt64(f[3], radix: 16)
            else { return nil }
            return Part(name: named ? String(f[4]) : "", size: size, modified: Double(bitPattern: m), head: head, tail: tail)
        }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        if let first = lines.first, first.hasPrefix("parts ") {
            guard let n = Int(first.dropFirst(6)), n == lines.count - 1 else { return nil }
            var parts: [Part] = []
            for line in lines.dropFirst() {
                guard let p = part(line, named: true) else { return nil }
                parts.append(p)
            }
            self.init(parts: parts, isMultiPart: true)
        } else {
            guard lines.count == 1, let p = part(lines[0], named: false) else { return nil }
            self.init(parts: [p], isMultiPart: false)
        }
    }
}
