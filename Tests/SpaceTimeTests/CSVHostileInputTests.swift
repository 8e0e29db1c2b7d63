import Foundation
import TestSupport
import Testing

@testable import SpaceTime

/// Input that is not CSV text, and messages about input: a compressed or
/// binary file is refused before any parsing with a message saying what it
/// looks like; every piece of input quoted in an error is a bounded, escaped
/// excerpt (a 10 MB header name, raw binary).
@Suite struct CSVHostileInputTests {
    func error(_ body: () throws -> Void) -> CSVError? {
        do {
            try body()
            return nil
        } catch let e as CSVError { return e } catch { return nil }
    }

    @Test func compressedAndBinaryFilesAreRecognisedUpFront() throws {
        let dir = TempDir("csv-binary")
        defer { dir.cleanup() }
        let cases: [(String, [UInt8], String)] = [
            ("d.csv.xz", [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 0x00, 0x04] + Array(repeating: 0x41, count: 50), "xz-compressed"),
            ("d.csv.zip", [0x50, 0x4B, 0x03, 0x04, 0x14, 0x00] + Array("a,b\n1,2\n".utf8), "zip-compressed"),
            ("d.csv.bz2", Array("BZh91AY&SY".utf8) + Array(repeating: 0x41, count: 50), "bzip2-compressed"),
            ("d.bin", Array("a,b\n1,2\n".utf8) + [0x00, 0x01, 0x00, 0x02, 0x00, 0x00] + Array("3,4\n".utf8), "binary"),
            ("elf", [0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00], "binary"),
            ("d16.csv", [0xFF, 0xFE] + Array("a,b\n".utf8).flatMap { [$0, 0] }, "UTF-16")
        ]
        for (name, bytes, what) in cases {
            let path = dir.write(name, bytes: bytes)
            let e = try #require(error { _ = try CSVReader(path: path) }, "\(name) is refused")
            #expect(e.code == .notText, "\(name): \(e)")
            #expect(e.description.hasPrefix(path + ": ") && e.description.contains(what), "\(e)")
            if what.hasSuffix("compressed") { #expect(e.description.contains("decompress it first")) }
            #expect(e.description.count < 200)
        }
        // gzip and zstd are read; garbage after their magic bytes is a corrupt stream naming the file.
        for (name, bytes) in [
            ("d.csv.gz", [0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03] + Array(repeating: UInt8(0x41), count: 50)),
            ("d.csv.zst", [0x28, 0xB5, 0x2F, 0xFD, 0x04, 0x58] + Array("a,b\n1,2\n".utf8))
        ] {
            let path = dir.write(name, bytes: bytes)
            let e = try #require(error { _ = try CSVReader(path: path) }, "\(name) is refused")
            #expect(e.code == .corrupt && e.description.hasPrefix(path + ": line 1: "), "\(e)")
        }
        // Through a pipe: the magic bytes are still recognised (a truncated gzip stream here).
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let gz: [UInt8] = [0x1F, 0x8B, 0x08, 0x00]
        #expect(write(fds[1], gz, gz.count) == gz.count)
        close(fds[1])
        let e = try #require(error { _ = try CSVReader(fileDescriptor: fds[0], name: "-", ownsDescriptor: true) })
        #expect(e.code == .corrupt && e.description.contains("gzip"), "\(e)")
        // Text that merely starts like a magic number is CSV.
        let bzLike = dir.write("bz.csv", "BZh,x\n1,2\n")
        #expect(try CSVReader(path: bzLike).header == ["BZh", "x"])
    }

    @Test func quotedInputIsBoundedAndEscaped() throws {
        let long = [UInt8](repeating: UInt8(ascii: "x"), count: 10_000)
        let q = long.withUnsafeBytes { quoteForMessage($0) }
        #expect(q == "`" + String(repeating: "x", count: 60) + "…`")
        let binary: [UInt8] = [0x1F, 0x8B, 0x00, 0x0A, 0x0D, 0x09, 0xFF, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0x80, 0x41, 0x7F, 0xEF, 0xBB, 0xBF]
        let b = binary.withUnsafeBytes { quoteForMessage($0) }
        #expect(b == "`\\x1F\\x8B\\x00\\n\\r\\t\\xFFé€\\x80A\\x7F\\xEF\\xBB\\xBF`", "\(b)")
        // A multi-byte character cut by the limit is escaped, not split.
        let cut = (Array(repeating: UInt8(ascii: "a"), count: 59) + [0xC3, 0xA9]).withUnsafeBytes { quoteForMessage($0) }
        #expect(cut == "`" + String(repeating: "a", count: 59) + "\\xC3…`")
        #expect(quoteForMessage("naïve\u{1B}[31m") == "`naïve\\x1B[31m`")
    }

    @Test func aHugeHeaderIsNotEchoed() throws {
        let dir = TempDir("csv-huge")
        defer { dir.cleanup() }
        let huge = String(repeating: "h", count: 10 << 20)
        let path = dir.write("h.csv", "\(huge),y\n1,2\n3,abc\n")
        let reader = try CSVReader(path: path)
        let unknown = try #require(error { _ = try reader.columnIndex(named: String(repeating: "n", count: 1 << 20)) })
        #expect(unknown.code == .unknownColumn && unknown.description.count < 400, "\(unknown.description.prefix(500))")
        _ = try reader.next()
        let record = try #require(try reader.next())
        let notANumber = try #require(error { _ = try record.double(at: 1) })
        #expect(notANumber.code == .notANumber && notANumber.description.contains("`abc`"))
        #expect(try record.double(at: 0) == 3)
    }

    @Test func aHugeColumnNameInALocatedErrorIsCut() throws {
        let e = CSVError(
            code: .notANumber, file: "f.csv", line: 2, column: 1, columnName: String(repeating: "c", count: 1 << 20) + "\u{7}",
            message: "expected a number")
        #expect(e.description == "f.csv: line 2, column 1 (`" + String(repeating: "c", count: 60) + "…`): expected a number")
    }

    @Test func headerRecordBytesExcludeTheByteOrderMarkAndLineEnd() throws {
        let dir = TempDir("csv-header")
        defer { dir.cleanup() }
        for (name, text) in [
            ("bom-crlf.csv", "\u{FEFF}a,\"b\r\nc\",d\r\n1,2,3\r\n"), ("cr.csv", "a,\"b\r\nc\",d\r1,2,3\r"),
            ("lf.csv", "a,\"b\r\nc\",d\n1,2,3\n")
        ] {
            let reader = try CSVReader(path: dir.write(name, text))
            #expect(reader.header == ["a", "b\r\nc", "d"], "\(name)")
            #expect(reader.headerRecord == Array("a,\"b\r\nc\",d".utf8), "\(name)")
            let r = try #require(try reader.next())
            #expect((0..<3).map { r.string(at: $0) } == ["1", "2", "3"])
            #expect(try reader.next() == nil)
        }
    }

    @Test func skippingAMalformedQuoteStopsAtABareCR() throws {
        let dir = TempDir("csv-skip-cr")
        defer { dir.cleanup() }
        let path = dir.write("s.csv", "a,b\r1,\"x\"y\r2,3\r4,5\r")
        var options = CSVOptions()
        options.badRows = .skip(report: 5)
        let reader = try CSVReader(path: path, options: options)
        var rows: [[String]] = []
        while let r = try reader.next() { rows.append([r.string(at: 0), r.string(at: 1)]) }
        #expect(rows == [["2", "3"], ["4", "5"]])
        #expect(reader.skippedRows == 1)
    }
}
