import Foundation
import SpaceTime
import TestSupport
import Testing

/// Generates a numeric CSV with `rows` rows: `id,f0..f(cols-1),label`; deterministic.
func writeNumericCSV(_ path: String, rows: Int, cols: Int = 8, seed: UInt64 = 1) {
    var rng = SplitMix64(seed: seed)
    var text = (["id"] + (0..<cols).map { "f\($0)" } + ["label"]).joined(separator: ",") + "\n"
    var out = Data()
    out.append(contentsOf: text.utf8)
    for i in 0..<rows {
        text = String(i)
        for _ in 0..<cols { text += "," + String(format: "%.7g", Double(Int64(bitPattern: rng.next() >> 1) % 2_000_000) / 1000 - 1000) }
        text += "," + String(Int(rng.next() % 3)) + "\n"
        out.append(contentsOf: text.utf8)
    }
    _ = FileManager.default.createFile(atPath: path, contents: out)
}

/// Reads `peak RSS N KiB (VmHWM)` from a command's --verbose output.
func peakKiB(_ stderr: String) -> Int? {
    guard let r = stderr.range(of: "peak RSS ") else { return nil }
    return Int(stderr[r.upperBound...].prefix { $0.isNumber })
}

/// `stats`, `sort` and `sample` run as the built binary: located errors, exit statuses, memory
/// limits, signals and kill -9.
@Suite(.serialized) struct CLITests {
    let exe = E2E.binary

    @Test func statsReportsLocatedErrorsAndExitsNonZero() throws {
        let dir = TempDir("cli")
        defer { dir.cleanup() }
        var body = "f0,f1,f2,f3,f4,f5,f6\n"
        for _ in 0..<10 { body += "1,2,3,4,5,6,7\n" }
        let cases: [(String, String)] = [
            (body + "1,2,3,4,5,6,abc\n", "line 12, column 7 (`f6`): expected a number, found `abc`"),
            (body + "1,2,3\n", "line 12: 3 fields, header has 7"),
            (body + "1,2,\"3\n", "line 12, column 3 (`f2`): quoted field is not closed"),
            (body + "1,2,\"3\"x,4,5,6,7\n", "line 12, column 3 (`f2`): expected a delimiter or end of line after a closing quote"),
            ("", "the file is empty")
        ]
        for (i, (text, expected)) in cases.enumerated() {
            let p = dir.write("bad\(i).csv", text)
            let r = try E2E.capture(["stats", p])
            #expect(r.status != 0, "case \(i)")
            #expect(r.err.contains(p) && r.err.contains(expected), "case \(i): \(r.err)")
        }
        let r = try E2E.capture(["stats", dir.file("missing.csv")])
        #expect(r.status != 0 && r.err.contains("cannot open"))
        let skip = try E2E.capture(["stats", dir.file("bad0.csv"), "--skip-bad-rows", "--json"])
        #expect(skip.status == 0 && skip.err.contains("skipped 1 bad row"), "\(skip.err)")
        let skipped = try JSONSerialization.jsonObject(with: Data(skip.out.utf8)) as? [String: Any]
        #expect(skipped?["rows"] as? Int == 10 && skipped?["skippedRows"] as? Int == 1)
        #expect((skipped?["skippedErrors"] as? [String])?.first?.contains("line") == true, "\(skip.out)")
        let unknown = try E2E.capture(["stats", dir.file("bad0.csv"), "--label", "nope"])
        #expect(unknown.status != 0 && unknown.err.contains("no column named `nope`"))
    }

    @Test func statsMatchesInProcessStatistics() throws {
        let dir = TempDir("cli")
        defer { dir.cleanup() }
        let p = dir.file("s.csv")
        writeNumericCSV(p, rows: 2000, cols: 3)
        let r = try E2E.capture(["stats", p, "--label", "label", "--json"])
        #expect(r.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        let cols = json["columns"] as! [[String: Any]]
        #expect(cols.count == 4 && json["rows"] as? Int == 2000)
        let reader = try CSVReader(path: p)
        var f1: [Double] = []
        while let rec = try reader.next() { f1.append(try rec.double(at: 2)) }
        let mean = f1.reduce(0, +) / Double(f1.count)
        let std = (f1.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(f1.count - 1)).squareRoot()
        let c = cols[2]
        #expect(c["name"] as? String == "f1")
        #expect(abs((c["mean"] as! Double) - mean) <= 1e-9 * abs(mean))
        #expect(abs((c["std"] as! Double) - std) <= 1e-9 * std)
        #expect(c["min"] as? Double == f1.min() && c["max"] as? Double == f1.max())
        let classes = (json["label"] as! [String: Any])["classes"] as! [String: Int]
        #expect(classes.values.reduce(0, +) == 2000 && classes.count == 3)
    }

    /// `spacetime sort` of a CSV ≥ 10× its memory limit: correct, stable output and peak RSS
    /// (VmHWM) ≤ limit + 32 MiB fixed overhead; `stats` on the same file likewise.
    @Test func sortAndStatsStayWithinMemoryLimit() throws {
        let dir = TempDir("cli")
        defer { dir.cleanup() }
        let p = dir.file("big.csv")
        writeNumericCSV(p, rows: 150_000, cols: 8)
        let size = try FileManager.default.attributesOfItem(atPath: p)[.size] as! Int
        let limitMiB = 1
        #expect(size >= 10 * (limitMiB << 20))
        // The process's own footprint (code, runtime, libraries): the same commands on 10 rows.
        let tiny = dir.file("tiny.csv")
        writeNumericCSV(tiny, rows: 10, cols: 8)
        let b = try E2E.capture(
            [
                "sort", tiny, "--by", "f0", "--numeric", "--memory-limit", "\(limitMiB)MiB",
                "--out", dir.file("tiny-sorted.csv"), "--temp-dir", dir.path, "--verbose"
            ])
        let sortBase = try #require(peakKiB(b.err))
        let statsBase = try #require(peakKiB(try E2E.capture(["stats", tiny, "--label", "label", "--verbose"]).err))
        // The data's share of the peak: the limit plus 8 MiB of slack (allocator, I/O buffers).
        let allowance = (limitMiB + 8) << 10
        let out = dir.file("sorted.csv")
        let r = try E2E.capture(
            ["sort", p, "--by", "f0", "--numeric", "--memory-limit", "\(limitMiB)MiB", "--out", out, "--temp-dir", dir.path, "--verbose"])
        #expect(r.status == 0, "\(r.err)")
        let peak = try #require(peakKiB(r.err))
        #expect(peak <= sortBase + allowance, "sort peak RSS \(peak) KiB, \(sortBase) KiB on 10 rows")
        // Check order and stability (ids of equal keys ascending) and that every row is there.
        let reader = try CSVReader(path: out)
        var last = -Double.infinity
        var lastID = -1
        var ids = Set<Int>()
        while let rec = try reader.next() {
            let k = try rec.double(at: 1)
            let id = Int(try rec.double(at: 0))
            #expect(k > last || (k == last && id > lastID))
            last = k
            lastID = id
            ids.insert(id)
        }
        #expect(ids.count == 150_000)
        let s = try E2E.capture(["stats", p, "--label", "label", "--verbose"])
        #expect(s.status == 0)
        let speak = try #require(peakKiB(s.err))
        #expect(speak <= statsBase + allowance, "stats peak RSS \(speak) KiB, \(statsBase) KiB on 10 rows")
        // No spill directories left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("spacetime-spill-") }
        #expect(leftovers.isEmpty)
    }

    @Test func sortOrdersTextNumbersDescendingAndMissing() throws {
        let dir = TempDir("cli")
        defer { dir.cleanup() }
        let p = dir.write("s.csv", "name,x\nb,2\nab,\na,10\n\"c,d\",-1\nb,NaN\nabc,2\n")
        func sorted(_ args: [String]) throws -> [String] {
            let out = dir.file("o.csv")
            let r = try E2E.capture(["sort", p, "--out", out] + args)
            #expect(r.status == 0, "\(r.err)")
            return try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init)
        }
        #expect(try sorted(["--by", "name"]) == ["name,x", "a,10", "ab,", "abc,2", "b,2", "b,NaN", "\"c,d\",-1"])
        #expect(try sorted(["--by", "name", "-r"]) == ["name,x", "\"c,d\",-1", "b,2", "b,NaN", "abc,2", "ab,", "a,10"])
        #expect(try sorted(["--by", "x", "--numeric"]) == ["name,x", "\"c,d\",-1", "b,2", "abc,2", "a,10", "ab,", "b,NaN"])
        #expect(try sorted(["--by", "2", "--numeric", "-r"]) == ["name,x", "a,10", "b,2", "abc,2", "\"c,d\",-1", "ab,", "b,NaN"])
        let bad = try E2E.capture(["sort", p, "--by", "name", "--numeric", "--out", dir.file("x.csv")])
        #expect(bad.status != 0 && bad.err.contains("line 2, column 1 (`name`): expected a number, found `b`"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("x.csv")))
        let small = try E2E.capture(["sort", p, "--by", "x", "--memory-limit", "12XB", "--out", dir.file("x.csv")])
        #expect(small.status != 0 && small.err.contains("invalid memory size `12XB`"))
        // Limits beyond any machine are lowered to physical memory, not a failed allocation or overflow trap.
        for huge in ["4000GiB", "8000000TB"] {
            let r = try E2E.capture(["sort", p, "--by", "x", "--memory-limit", huge, "--out", dir.file("h.csv")])
            #expect(r.status == 0, "--memory-limit \(huge): \(r.err)")
        }
    }

    @Test func sampleIsStratifiedAndDeterministic() throws {
        let dir = TempDir("cli")
        defer { dir.cleanup() }
        let p = dir.file("in.csv")
        writeNumericCSV(p, rows: 30_000, cols: 2)
        let a = dir.file("a.csv")
        let b = dir.file("b.csv")
        for o in [a, b] {
            let r = try E2E.capture(["sample", p, "--fraction", "0.1", "--stratify-by", "label", "--seed", "7", "--out", o])
            #expect(r.status == 0, "\(r.err)")
        }
        #expect(FileManager.default.contents(atPath: a) == FileManager.default.contents(atPath: b))
        func classCounts(_ path: String) throws -> [String: Int] {
            let reader = try CSVReader(path: path)
            var c: [String: Int] = [:]
            while let rec = try reader.next() { c[rec.string(at: 3), default: 0] += 1 }
            return c
        }
        let whole = try classCounts(p)
        let sample = try classCounts(a)
        for (k, n) in whole { #expect(abs(Double(sample[k]!) - 0.1 * Double(n)) <= 1) }
        let n = try E2E.capture(["sample", p, "--rows", "100", "--seed", "1", "--out", b])
        #expect(n.status == 0)
        #expect(try classCounts(b).values.reduce(0, +) == 100)
        let bad = try E2E.capture(["sample", p, "--fraction", "1.5", "--out", b])
        #expect(bad.status != 0 && bad.err.contains("--fraction must be in (0, 1]"))
    }

    /// SIGTERM / SIGINT during a spilling sort: exit status 128 + signal and no spill directory left.
    @Test func interruptedSortRemovesItsSpillDirectory() throws {
        let dir = TempDir("sig")
        defer { dir.cleanup() }
        let p = dir.file("in.csv")
        writeNumericCSV(p, rows: 150_000, cols: 8)
        for sig in [SIGTERM, SIGINT] {
            let proc = Process()
            proc.executableURL = URL(fileURLWithPath: exe)
            proc.arguments = [
                "sort", p, "--by", "f1", "--numeric", "--memory-limit", "1MiB", "--out", dir.file("o.csv"), "--temp-dir", dir.path
            ]
            proc.environment = ["SWIFT_BACKTRACE": "enable=no"]
            try proc.run()
            // Wait for the first sorted run on disk (not a fixed sleep).
            let deadline = ContinuousClock.now.advanced(by: .seconds(60))
            func spillDirs() -> [String] {
                ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasPrefix("spacetime-spill-") }
            }
            func runFiles() -> Int {
                spillDirs().reduce(0) { $0 + (((try? FileManager.default.contentsOfDirectory(atPath: dir.file($1))) ?? []).count) }
            }
            while proc.isRunning && runFiles() == 0 && ContinuousClock.now < deadline { usleep(5_000) }
            try #require(proc.isRunning, "the sort finished before it could be interrupted")
            kill(proc.processIdentifier, sig)
            proc.waitUntilExit()
            #expect(
                proc.terminationReason == .exit && proc.terminationStatus == 128 + sig,
                "signal \(sig): \(proc.terminationReason) \(proc.terminationStatus)")
            #expect(spillDirs().isEmpty, "signal \(sig) left \(spillDirs())")
            #expect(!FileManager.default.fileExists(atPath: dir.file("o.csv")))
        }
    }

    /// kill -9 at random moments during `spacetime sort --out OUT`: OUT is the old file or the
    /// complete new one, never torn; stale temporary files are removed by the next run.
    @Test func killedSortLeavesOldOrNewOutput() throws {
        let dir = TempDir("kill")
        defer { dir.cleanup() }
        let p = dir.file("in.csv")
        writeNumericCSV(p, rows: 120_000, cols: 8)
        let out = dir.file("out.csv")
        let old = Data("old,content\n".utf8)
        _ = FileManager.default.createFile(atPath: out, contents: old)
        let full = dir.file("full.csv")
        #expect(try E2E.capture(["sort", p, "--by", "f2", "--numeric", "--memory-limit", "8MiB", "--out", full]).status == 0)
        let expected = FileManager.default.contents(atPath: full)
        var rng = SplitMix64(seed: 3)
        for _ in 0..<4 {
            let proc = Process()
            proc.executableURL = URL(fileURLWithPath: exe)
            proc.arguments = ["sort", p, "--by", "f2", "--numeric", "--memory-limit", "8MiB", "--out", out, "--temp-dir", dir.path]
            proc.environment = ["SWIFT_BACKTRACE": "enable=no"]
            try proc.run()
            usleep(UInt32.random(in: 50_000...900_000, using: &rng))
            kill(proc.processIdentifier, SIGKILL)
            proc.waitUntilExit()
            let now = FileManager.default.contents(atPath: out)
            #expect(now == old || now == expected, "torn output after kill")
        }
        #expect(
            try E2E.capture(["sort", p, "--by", "f2", "--numeric", "--memory-limit", "8MiB", "--out", out, "--temp-dir", dir.path]).status
                == 0
        )
        #expect(FileManager.default.contents(atPath: out) == expected)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(!names.contains { $0.contains(".stm.tmp.") || $0.hasPrefix("spacetime-spill-") }, "\(names)")
    }
}
