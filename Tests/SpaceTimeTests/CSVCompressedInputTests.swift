import Foundation
import TestSupport
import Testing

@testable import SpaceTime

/// gzip and zstd files decompressed as they are read (`CSVByteSource`), and directories and
/// globs of part files read as one data set (`CSVInput`): the same records and located errors
/// as the plain single file.
@Suite struct CSVCompressedInputTests {
    /// `tool -c` of `bytes` (the system's gzip or zstd, from a file: zstd then records the content size).
    func compress(_ tool: String, _ bytes: [UInt8]) throws -> [UInt8] {
        let dir = TempDir("csv-compress")
        defer { dir.cleanup() }
        let path = dir.write("in", bytes: bytes)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool, "-c", "-q", path]
        let output = Pipe()
        p.standardOutput = output
        try p.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        return [UInt8](out)
    }

    func records(_ reader: CSVReader) throws -> [String] {
        var out: [String] = []
        while let r = try reader.next() {
            out.append("\(reader.file):\(r.line):" + (0..<r.count).map { r.string(at: $0) }.joined(separator: "|"))
        }
        return out
    }

    func error(_ body: () throws -> Void) -> CSVError? {
        do {
            try body()
            return nil
        } catch let e as CSVError { return e } catch { return nil }
    }

    static let text: String = {
        var s = "a,b,label\n"
        for i in 0..<3000 { s += "\(i),\"q\(i % 7)\",\(i % 3)\n" }
        return s
    }()

    @Test func gzipAndZstdGiveThePlainRecordsWithShortReads() throws {
        let dir = TempDir("csv-compressed")
        defer { dir.cleanup() }
        let plain = Array(Self.text.utf8)
        let half = plain.count / 2
        let cut = plain[..<half].lastIndex(of: 0x0A)! + 1
        let files: [(String, [UInt8])] = [
            ("d.csv", plain),
            ("d.csv.gz", try compress("gzip", plain)),
            ("d.csv.zst", try compress("zstd", plain)),
            // Concatenated members and frames (what `cat a.gz b.gz` and pzstd write).
            ("m.csv.gz", try compress("gzip", Array(plain[..<cut])) + compress("gzip", Array(plain[cut...]))),
            ("m.csv.zst", try compress("zstd", Array(plain[..<cut])) + compress("zstd", Array(plain[cut...])))
        ]
        var expected: [String]?
        for (name, bytes) in files {
            let path = dir.write(name, bytes: bytes)
            var o = CSVOptions()
            o.chunkSize = 7  // records straddle every read
            let got = try records(CSVReader(path: path, options: o)).map { String($0.dropFirst(path.count)) }
            if let expected { #expect(got == expected, "\(name)") } else { expected = got }
            // The byte source alone, a few bytes per call and a 16-byte input buffer.
            let source = try CSVByteSource(path: path, inputSize: 16)
            var text: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 5)
            var n = 1
            while true {
                let got = try chunk.withUnsafeMutableBytes { try source.read(into: $0.baseAddress!, count: n) }
                if got == 0 { break }
                text += chunk[..<got]
                n = n % 5 + 1
            }
            #expect(text == plain, "\(name): \(source.format)")
            #expect(try source.read(into: &chunk, count: 5) == 0)
        }
        #expect(expected?.count == 3000)
    }

    @Test func emptyAndCorruptStreamsAreLocatedErrors() throws {
        let dir = TempDir("csv-corrupt")
        defer { dir.cleanup() }
        let empty = try #require(error { _ = try CSVReader(path: dir.write("e.csv.gz", bytes: try compress("gzip", []))) })
        #expect(empty.code == .emptyFile)
        #expect(error { _ = try CSVReader(path: dir.write("e.csv", "")) }?.code == .emptyFile)
        let gz = try compress("gzip", Array(Self.text.utf8))
        // Truncated: the reader fails at the record being read, naming the compressed offset.
        let truncated = dir.write("t.csv.gz", bytes: Array(gz[..<(gz.count / 2)]))
        let t = try #require(error { _ = try records(CSVReader(path: truncated)) })
        #expect(t.code == .corrupt && t.file == truncated && (t.line ?? 0) > 1 && t.description.contains("truncated"), "\(t)")
        // A flipped byte: a decoder error or the trailer's CRC, never a crash or a silent success.
        var flipped = gz
        flipped[gz.count / 2] ^= 0x55
        let f = try #require(error { _ = try records(CSVReader(path: dir.write("f.csv.gz", bytes: flipped))) })
        #expect(f.code == .corrupt && f.description.contains("compressed byte"), "\(f)")
        var zst = try compress("zstd", Array(Self.text.utf8))
        zst.removeLast(3)
        let z = try #require(error { _ = try records(CSVReader(path: dir.write("t.csv.zst", bytes: zst))) })
        #expect(z.code == .corrupt && z.description.contains("zstd"), "\(z)")
        // Garbage after a member.
        let g = try #require(error { _ = try records(CSVReader(path: dir.write("g.csv.gz", bytes: gz + [0x41, 0x42]))) })
        #expect(g.code == .corrupt, "\(g)")
        // A bad value inside a compressed file: the line of the decompressed text.
        let bad = try compress("zstd", Array("a,b\n1,2\n\n3,x\n".utf8))
        let reader = try CSVReader(path: dir.write("b.csv.zst", bytes: bad))
        _ = try reader.next()
        let record = try #require(try reader.next())
        let e = try #require(error { _ = try record.double(at: 1) })
        #expect(e.description.hasSuffix("b.csv.zst: line 4, column 2 (`b`): expected a number, found `x`"), "\(e)")
    }

    @Test func partsReadAsOneDataSetWithTheirOwnLines() throws {
        let dir = TempDir("csv-parts")
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.file("data"), withIntermediateDirectories: true)
        _ = dir.write("data/part-00002.csv", "a,b\n5,6\n")
        _ = dir.write("data/part-00000.csv", "\u{FEFF}a,b\r\n1,2\r\n")
        _ = dir.write("data/part-00001.csv.gz", bytes: try compress("gzip", Array("a,b\n3,4\n".utf8)))
        _ = dir.write("data/notes.txt", "ignored")
        _ = dir.write("data/.hidden.csv", "x\n")
        let input = try CSVInput(path: dir.file("data"))
        #expect(input.parts.map { ($0 as NSString).lastPathComponent } == ["part-00000.csv", "part-00001.csv.gz", "part-00002.csv"])
        let got = try records(CSVReader(input: input)).map { String($0.dropFirst(dir.file("data/").count)) }
        #expect(got == ["part-00000.csv:2:1|2", "part-00001.csv.gz:2:3|4", "part-00002.csv:2:5|6"])
        // A glob, sorted by name.
        let glob = try CSVInput(path: dir.file("data/part-*.csv"))
        #expect(glob.parts.count == 2 && glob.parts[0].hasSuffix("part-00000.csv"))
        // A different header: located at the part, naming the first part and the column.
        _ = dir.write("data/part-00003.csv", "a,c\n7,8\n")
        let e = try #require(error { _ = try records(CSVReader(path: dir.file("data"))) })
        #expect(e.code == .headerMismatch && e.file.hasSuffix("part-00003.csv") && e.line == 1 && e.column == 2, "\(e)")
        #expect(e.message.contains("part-00000.csv") && e.message.contains("`c`") && e.message.contains("`b`"), "\(e)")
        try FileManager.default.removeItem(atPath: dir.file("data/part-00003.csv"))
        // A bad record in a part: that part and its line.
        _ = dir.write("data/part-00004.csv", "a,b\n9,10\n11\n")
        let f = try #require(error { _ = try records(CSVReader(path: dir.file("data"))) })
        #expect(f.file.hasSuffix("part-00004.csv") && f.line == 3 && f.code == .fieldCount, "\(f)")
        // Nothing to read.
        #expect(error { _ = try CSVInput(path: dir.file("data/none-*.csv")) }?.code == .noParts)
        try FileManager.default.createDirectory(atPath: dir.file("empty"), withIntermediateDirectories: true)
        #expect(error { _ = try CSVInput(path: dir.file("empty")) }?.code == .noParts)
    }

    @Test func theTextSizeIsEstimatedAndNamesItsBasis() throws {
        let dir = TempDir("csv-estimate")
        defer { dir.cleanup() }
        let plain = Array(Self.text.utf8)
        let gz = dir.write("d.csv.gz", bytes: try compress("gzip", plain))
        let small = CSVInput.estimatedTextBytes(ofFile: gz)
        #expect(small.bytes == plain.count && small.basis == .decompressed)
        var big: [UInt8] = []
        while big.count < 6 << 20 { big += plain.dropFirst(10) }
        let z = CSVInput.estimatedTextBytes(ofFile: dir.write("b.csv.zst", bytes: try compress("zstd", big)))
        #expect(z.bytes == big.count && z.basis == .zstdFrameHeader, "\(z)")
        let g = CSVInput.estimatedTextBytes(ofFile: dir.write("b.csv.gz", bytes: try compress("gzip", big)))
        // The larger of ISIZE and the sampled ratio's figure: never below the recorded size.
        #expect(g.bytes >= big.count && (g.basis == .gzipTrailer || g.basis == .sampledRatio), "\(g)")
    }
}
