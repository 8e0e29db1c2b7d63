import Foundation
import TestSupport
import Testing

@testable import SpaceTime

@Suite struct CSVReaderTests {
    func readAll(_ path: String, options: CSVOptions = CSVOptions()) throws -> (header: [String], rows: [[String]], lines: [Int]) {
        let reader = try CSVReader(path: path, options: options)
        var rows: [[String]] = []
        var lines: [Int] = []
        while let r = try reader.next() {
            rows.append((0..<r.count).map { r.string(at: $0) })
            lines.append(r.line)
        }
        return (reader.header, rows, lines)
    }

    @Test func quotesNewlinesCRLFAndBOM() throws {
        let dir = TempDir("csv")
        defer { dir.cleanup() }
        let text = "\u{FEFF}a,\"b c\",d\r\n1,\"x,\"\"y\"\"\nz\",\r\n\r\n\"\",2,3\n"
        let p = dir.write("q.csv", text)
        let (header, rows, lines) = try readAll(p)
        #expect(header == ["a", "b c", "d"])
        #expect(rows == [["1", "x,\"y\"\nz", ""], ["", "2", "3"]])
        #expect(lines == [2, 5])
    }

    @Test func missingValuesAndNumbers() throws {
        let dir = TempDir("csv")
        defer { dir.cleanup() }
        let p = dir.write("n.csv", "x,y,z\n1.5,,NaN\nNA,-2e3,\"7\"\nnan,+.5, 3 \n")
        let reader = try CSVReader(path: p)
        var values: [[Double]] = []
        while let r = try reader.next() { values.append(try (0..<3).map { try r.double(at: $0) }) }
        #expect(values.count == 3)
        #expect(values[0][0] == 1.5 && values[0][1].isNaN && values[0][2].isNaN)
        #expect(values[1][0].isNaN && values[1][1] == -2000 && values[1][2] == 7)
        #expect(values[2][0].isNaN && values[2][1] == 0.5 && values[2][2] == 3)
    }

    @Test func locatedNumberError() throws {
        let dir = TempDir("csv")
        defer { dir.cleanup() }
        var text = "f0,f1,f2,f3,f4,f5,f6\n"
        for _ in 0..<18_202 { text += "0,1,2,3,4,5,6\n" }
        text += "0,1,2,3,4,5,abc\n"
        let p = dir.write("bad.csv", text)
        let reader = try CSVReader(
            path: p,
            options: {
                var o = CSVOptions()
                o.chunkSize = 4096
                return o
            }())
        var failure: CSVError?
        do throws(CSVError) { while let r = try reader.next() { for i in 0..<r.count { _ = try r.double(at: i) } } } catch {
            failure = error
        }
        let e = try #require(failure)
        #expect(e.code == .notANumber)
        #expect(e.description == "\(p): line 18,204, column 7 (`f6`): expected a number, found `abc`")
    }

    @Test func fieldCountErrorAndSkipPolicy() throws {
        let dir = TempDir("csv")
        defer { dir.cleanup() }
        let p = dir.write("fc.csv", "a,b,c\n1,2,3\n1,2\n4,5,6\n1,2,3,4\n7,8,9\n")
        #expect(throws: CSVError(code: .fieldCount, file: p, line: 3, message: "2 fields, header has 3")) {
            _ = try readAll(p)
        }
        var o = CSVOptions()
        o.badRows = .skip(report: 1)
        let reader = try CSVReader(path: p, options: o)
        var rows: [String] = []
        while let r = try reader.next() { rows.append(r.string(at: 0)) }
        #expect(rows == ["1", "4", "7"])
        #expect(reader.skippedRows == 2)
        #expect(reader.skippedErrors.map(\.line) == [3])
    }

    @Test func malformedQuotes() throws {
        let dir = TempDir("csv")
        defer { dir.cleanup() }
        let p1 = dir.write("u.csv", "a,b\n1,\"open\n2,3\n")
        #expect { _ = try readAll(p1) } throws: { ($0 as? CSVError)?.code == .unterminatedQuote && ($0 as? CSVError)?.line == 2 }
        let p2 = dir.write("x.csv", "a,b\n1,\"q\"x\n2,3\n")
        #expect { _ = try readAll(p2) } throws: {
            ($0 as? CSVError)?.description
                == "\(p2): line 2, column 2 (`b`): expected a delimiter or end of line after a closing quote, found `x`"
        }
        var o = CSVOptions()
        o.badRows = .skip(report: 5)
        #expect(try readAll(p2, options: o).rows == [["2", "3"]])
    }

    @Test func emptyFileAndUnknownColumn() throws {
        let dir = TempDir("csv")
        defer { dir.cleanup() }
        let p = dir.write("e.csv", "")
        #expect { _ = try CSVReader(path: p) } throws: { ($0 as? CSVError)?.code == .emptyFile }
        let q = dir.write("h.csv", "a,b\n")
        let reader = try CSVReader(path: q)
        #expect(try reader.next() == nil)
        #expect { _ = try reader.columnIndex(named: "zz") } throws: { ($0 as? CSVError)?.code == .unknownColumn }
        #expect { _ = try CSVReader(path: dir.file("nope.csv")) } throws: { ($0 as? CSVError)?.code == .io }
    }

    /// Property: random tables with quotes, delimiters, CR/LF in fields round-trip, for several chunk sizes.
    @Test(arguments: [1, 7, 64, 1 << 16])
    func roundTripRandomTables(chunkSize: Int) throws {
        let dir = TempDir("csv")
        defer { dir.cleanup() }
        var rng = SeededRandom(seed: UInt64(chunkSize))
        let alphabet = Array("ab,\"\n\r x1é")
        for trial in 0..<20 {
            let cols = Int.random(in: 1...5, using: &rng)
            let rowsN = Int.random(in: 0...30, using: &rng)
            let header = (0..<cols).map { "c\($0)" }
            var rows: [[String]] = []
            for _ in 0..<rowsN {
                rows.append(
                    (0..<cols).map { _ in
                        String((0..<Int.random(in: 0...6, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
                    })
            }
            // A single empty field would be a blank line, which CSV readers skip: quote it.
            func enc(_ f: String) -> String {
                f.unicodeScalars.contains(where: { ",\"\n\r".unicodeScalars.contains($0) }) || (cols == 1 && f.isEmpty) || f.hasPrefix(" ")
                    ? "\"" + f.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : f
            }
            let eol = trial % 2 == 0 ? "\n" : "\r\n"
            let text = ([header] + rows).map { $0.map(enc).joined(separator: ",") }.joined(separator: eol) + (trial % 3 == 0 ? "" : eol)
            let p = dir.write("r\(trial).csv", text)
            var o = CSVOptions()
            o.chunkSize = chunkSize
            let got = try readAll(p, options: o)
            #expect(got.header == header)
            #expect(got.rows == rows, "trial \(trial)")
        }
    }

    /// Without a header the first record is read with the header; label-only mode still gives
    /// its label, and `columnNames` name the columns (a count unlike the first record's is located).
    @Test func headerlessFilesWithColumnNamesAndLabelOnlyMode() throws {
        let dir = TempDir("csv")
        defer { dir.cleanup() }
        let p = dir.write("h.csv", "1;2;a\n3;4;b\n")
        var o = CSVOptions()
        o.delimiter = UInt8(ascii: ";")
        o.hasHeader = false
        o.columnNames = ["x", "y", "label"]
        let reader = try CSVReader(path: p, options: o)
        #expect(reader.header == ["x", "y", "label"] && reader.headerRecord.isEmpty)
        reader.extractOnly(column: 2)
        var labels: [String] = []
        while let r = try reader.next() { labels.append(r.string(at: 2)) }
        #expect(labels == ["a", "b"])
        #expect(CSVOptions.headerLine(["x", "a;b", "q\"t"], delimiter: UInt8(ascii: ";")) == Array("x;\"a;b\";\"q\"\"t\"".utf8))
        o.columnNames = ["x", "y"]
        do {
            _ = try CSVReader(path: p, options: o)
            Issue.record("two names for three fields were accepted")
        } catch {
            #expect(error.code == .fieldCount && error.line == 1)
        }
    }

    @Test func labelOnlyModeAndRawRecordReparse() throws {
        let dir = TempDir("csv")
        defer { dir.cleanup() }
        let p = dir.write("l.csv", "x,y,label\n1,2,a\n\"3\",\"4,5\",b\n6,bad,c\n")
        let reader = try CSVReader(path: p)
        reader.extractOnly(column: 2)
        var labels: [String] = []
        var raws: [([UInt8], Int)] = []
        while let r = try reader.next() {
            labels.append(r.string(at: 2))
            raws.append((r.withRawBytes { Array($0) }, r.line))
        }
        #expect(labels == ["a", "b", "c"])
        #expect(String(decoding: raws[1].0, as: UTF8.self) == "\"3\",\"4,5\",b")
        let worker = CSVRecord(header: reader.header, file: p)
        try worker.parse(raw: raws[0].0, line: raws[0].1)
        #expect(try worker.double(at: 1) == 2)
        try worker.parse(raw: raws[1].0, line: raws[1].1)
        #expect(try worker.double(at: 0) == 3 && worker.string(at: 1) == "4,5")
        try worker.parse(raw: raws[2].0, line: raws[2].1)
        #expect { _ = try worker.double(at: 1) } throws: {
            ($0 as? CSVError)?.description == "\(p): line 4, column 2 (`y`): expected a number, found `bad`"
        }
        #expect { try worker.parse(raw: Array("1,2".utf8), line: 9) } throws: {
            ($0 as? CSVError)?.description == "\(p): line 9: 2 fields, header has 3"
        }
    }
}

@Suite struct NumberParserTests {
    func viaStrtod(_ s: String) -> Double { strtod(s, nil) }

    /// Property: the fast parser gives exactly strtod's Double on random decimal texts.
    @Test func agreesWithStrtod() {
        var rng = SeededRandom(seed: 42)
        for _ in 0..<200_000 {
            let digits = Int.random(in: 1...20, using: &rng)
            var s = Bool.random(using: &rng) ? "-" : ""
            let dot = Int.random(in: 0...digits, using: &rng)
            for i in 0..<digits {
                if i == dot && i > 0 { s += "." }
                s += String(Int.random(in: 0...9, using: &rng))
            }
            if Int.random(in: 0...3, using: &rng) == 0 { s += "e\(Int.random(in: -330...310, using: &rng))" }
            guard case .number(let v) = NumberParser.parse(s) else {
                Issue.record("rejected \(s)")
                return
            }
            let r = viaStrtod(s)
            #expect(v.bitPattern == r.bitPattern, "\(s)")
            if v.bitPattern != r.bitPattern { return }
        }
        for s in [
            "-0.5307324", "13.60678", "0.00000001", "12345678.1", "1234567890.12345678", "99999999999.99999999",
            "-0.", "000000000.5", "1.00000000", "9007199254740.993", "12345.6789e3", "0000001.2345678",
            "0.1", "1e22", "1e23", "9007199254740993", "2.2250738585072014e-308", "4.9e-324", "1.7976931348623157e308", "1e400", "-0",
            "inf", "-Infinity", ".5", "5.", "0.30000000000000004"
        ] {
            guard case .number(let v) = NumberParser.parse(s) else {
                Issue.record("rejected \(s)")
                continue
            }
            #expect(v.bitPattern == viaStrtod(s).bitPattern, "\(s)")
        }
    }

    /// Property: the word-at-a-time fraction path (`[-]d{1,11}.d{1,8}` at the end of a field)
    /// agrees with strtod, including leading zeros and embedded non-digits that must fall back.
    @Test func fractionWordPathAgreesWithStrtod() {
        var rng = SeededRandom(seed: 99)
        for _ in 0..<100_000 {
            var s = Bool.random(using: &rng) ? "-" : ""
            for _ in 0..<Int.random(in: 1...11, using: &rng) { s += String(Int.random(in: 0...9, using: &rng)) }
            s += "."
            for _ in 0..<Int.random(in: 1...8, using: &rng) { s += String(Int.random(in: 0...9, using: &rng)) }
            guard case .number(let v) = NumberParser.parse(s) else {
                Issue.record("rejected \(s)")
                return
            }
            #expect(v.bitPattern == strtod(s, nil).bitPattern, "\(s)")
            if v.bitPattern != strtod(s, nil).bitPattern { return }
        }
        for bad in ["12345.6x78", "1234567.8e", "-0.123 567", "123.45.67"] {
            #expect(NumberParser.parse(bad) == .invalid, "\(bad)")
        }
    }

    @Test func rejectsNonNumbers() {
        for s in ["", "abc", "1.2.3", "1e", "e5", "0x10", "nan", "NaN", "1,5", "--1", "+", ".", "1 2"] {
            #expect(NumberParser.parse(s) == .invalid, "\(s)")
        }
    }

    @Test func tooManyColumnsIsALocatedErrorNotUnboundedGrowth() throws {
        let dir = TempDir("csv")
        defer { dir.cleanup() }
        var o = CSVOptions()
        o.maxColumns = 40
        let wideHeader = dir.write("wide.csv", String(repeating: ",", count: 100) + "\n1\n")
        #expect(
            throws: CSVError(
                code: .fieldCount, file: wideHeader, line: 1,
                message: "101 fields, more than the limit of 40 columns (CSVOptions.maxColumns)")
        ) {
            _ = try CSVReader(path: wideHeader, options: o)
        }
        // A data row far wider than the header is the usual field-count error (its fields are not stored).
        let wideRow = dir.write("row.csv", "a,b\n1,2\n" + String(repeating: "9,", count: 5000) + "9\n3,4\n")
        o.badRows = .skip(report: 1)
        let reader = try CSVReader(path: wideRow, options: o)
        var sum = 0.0
        while let r = try reader.next() { sum += try r.double(at: 0) + r.double(at: 1) }
        #expect(sum == 10 && reader.skippedRows == 1)
        #expect(reader.skippedErrors.first?.description == "\(wideRow): line 3: 5001 fields, header has 2")
        // The standalone parser refuses a record wider than the limit when it has no header to check against.
        let record = CSVRecord(header: [], file: "peer", options: o)
        #expect(throws: CSVError.self) { try record.parse(raw: Array(String(repeating: "1,", count: 50).utf8), line: 7) }
    }

    @Test func controlCharactersAreEscapedInMessages() throws {
        let dir = TempDir("csv")
        defer { dir.cleanup() }
        let p = dir.write("nul.csv", bytes: Array("a,b\n1,\u{0}2\u{1B}\n".utf8))
        let reader = try CSVReader(path: p)
        let r = try #require(try reader.next())
        #expect(
            throws: CSVError(
                code: .notANumber, file: p, line: 2, column: 2, columnName: "b",
                message: "expected a number, found `\\x002\\x1B`")
        ) { _ = try r.double(at: 1) }
    }

    @Test func longNumbersAndInfinitiesParseAsStrtodDoes() {
        let tiny = "0." + String(repeating: "0", count: 2000) + "1"
        #expect(NumberParser.parse(tiny) == .number(0))
        let long = "1" + String(repeating: "0", count: 1500)
        #expect(NumberParser.parse(long) == .number(.infinity))
        #expect(NumberParser.parse(String(repeating: "1", count: 70_000)) == .invalid)
        #expect(NumberParser.parse("-inf") == .number(-.infinity))
    }

    @Test func statisticsOfInfiniteValuesFollowPandas() throws {
        let dir = TempDir("csv")
        defer { dir.cleanup() }
        let p = dir.write("inf.csv", "a,b,c\ninf,-inf,inf\n1,2,-inf\n3,4,5\n")
        let stats = try CSVStatistics.compute(path: p)
        let (a, b, c) = (stats.columns[0].statistics, stats.columns[1].statistics, stats.columns[2].statistics)
        #expect(a.mean == .infinity && a.standardDeviation.isNaN && a.min == 1 && a.max == .infinity)
        #expect(b.mean == -.infinity && b.standardDeviation.isNaN && b.min == -.infinity && b.max == 4)
        #expect(c.mean.isNaN && c.standardDeviation.isNaN && c.count == 3)
    }
}
