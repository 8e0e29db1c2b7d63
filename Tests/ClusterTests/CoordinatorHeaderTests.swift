import Foundation
import SpaceTime
import Testing

@testable import Cluster

/// `CoordinatorJob.readHeader`, which the coordinator and `predict --workers`
/// use: the same header as `CSVReader` on every input form, and a raw header
/// record the workers parse to the same names.
@Suite struct CoordinatorHeaderTests {
    func temp(_ name: String, _ bytes: [UInt8]) throws -> String {
        let dir = NSTemporaryDirectory() + "st-header-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func byteOrderMarkAndEveryLineEnd() throws {
        let forms: [(String, String)] = [
            ("lf", "f1,\"f 2\",label\n1,2,a\n3,4,b\n"),
            ("crlf", "f1,\"f 2\",label\r\n1,2,a\r\n3,4,b\r\n"),
            ("bom-crlf", "\u{FEFF}f1,\"f 2\",label\r\n1,2,a\r\n3,4,b\r\n"),
            ("bom-lf", "\u{FEFF}f1,\"f 2\",label\n1,2,a\n3,4,b\n"),
            ("cr", "f1,\"f 2\",label\r1,2,a\r3,4,b\r"),
            ("bom-cr-no-final-newline", "\u{FEFF}f1,\"f 2\",label\r1,2,a\r3,4,b")
        ]
        for (name, text) in forms {
            let path = try temp(name + ".csv", Array(text.utf8))
            defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
            let (header, raw, perRow) = try CoordinatorJob.readHeader(path)
            #expect(header == ["f1", "f 2", "label"], "\(name)")
            #expect(raw == Data("f1,\"f 2\",label".utf8), "\(name): no BOM, no line end in the record sent to workers")
            #expect(perRow >= 5 && perRow <= 7, "\(name): \(perRow)")
            var schema = WireCsvSchema()
            schema.headerRecord = raw
            schema.columnCount = 3
            schema.labelColumn = 2
            schema.delimiter = UInt32(UInt8(ascii: ","))
            #expect(try CSVLayout.headerNames(.init(wire: schema)) == header, "\(name): the workers read the same names")
        }
    }

    @Test func emptyCorruptCompressedAndBinaryFilesAreRefused() throws {
        let cases: [(String, [UInt8], String)] = [
            ("empty.csv", [], "empty"),
            ("d.csv.gz", [0x1F, 0x8B, 0x08, 0x00, 0x12, 0x34], "gzip stream is corrupt"),
            ("d.csv.xz", [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 0x00, 0x04], "xz-compressed"),
            ("d.csv", Array("a,b\n".utf8) + [0, 0, 0, 0], "binary")
        ]
        for (name, bytes, what) in cases {
            let path = try temp(name, bytes)
            defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
            do {
                _ = try CoordinatorJob.readHeader(path)
                Issue.record("\(name) was accepted")
            } catch let error as PipelineError {
                #expect("\(error)".contains(what) && "\(error)".contains(path), "\(error)")
            }
        }
    }

    @Test func theBlockIndexReadsBareCRAndAByteOrderMark() throws {
        let path = try temp("cr.csv", Array("\u{FEFF}a,b\r1,2\r3,4\r5,6\r".utf8))
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let index = try CSVBlockIndex(path: path, granule: 2)
        #expect(index.rows == 3 && index.marks.count == 2)
        var seen: [String] = []
        for first in [0, 2] {
            let mark = try #require(index.mark(ofRecord: first))
            let reader = try CSVBlockReader(path: path, mark: mark, rows: min(2, 3 - first))
            while try reader.next({ line, bytes in seen.append("\(line):" + String(decoding: bytes, as: UTF8.self)) }) {}
        }
        #expect(seen == ["2:1,2", "3:3,4", "4:5,6"])
    }
}
