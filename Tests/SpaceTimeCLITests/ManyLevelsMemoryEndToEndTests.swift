import Foundation
import SpaceTime
import TestSupport
import Testing

@testable import Cluster

/// A categorical column with 100,000 distinct levels trains in bounded memory:
/// `spacetime train` as a child process, its peak RSS (VmHWM) measured and
/// compared with the same table where that column has 10 levels.
///
/// Why +64 MiB is the bound: per column the level counts are exact up to
/// `LevelCounts.capacity` (4,096) levels and a Misra–Gries summary of at most
/// `LevelCounts.overflow` (8,192) entries beyond it, so the statistics cost well under
/// 1 MiB whatever the cardinality; the extractor keeps at most 255 levels (plus the
/// names of the rarer ones folded into "other", ~100,000 short strings, a few MiB);
/// rows are stored as one value per feature whatever the level. Everything else
/// (row store, bins, trees) is the same for both files. A design that held a
/// dictionary of every level per partition, or one-hot columns, would exceed it by far
/// (100,000 levels × 300,000 rows one-hot is gigabytes).
@Suite(.serialized) struct ManyLevelsMemoryEndToEndTests {
    static let rows = 300_000
    static let levels = 100_000

    /// `tail, x, label`: half the rows hold one of 20 frequent levels `H0`…`H19` (they carry
    /// signal and get bins of their own), the other half the other 99,980 levels `T…` once or
    /// twice each (a bijection k ↦ k·7919 mod 99,980): 100,000 distinct levels in all. The
    /// baseline holds `L0`…`L9` instead.
    static func writeTable(manyLevels: Bool, to path: String) throws {
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        defer { try? handle.close() }
        var chunk = "tail,x,label\n"
        var state: UInt64 = 17
        for i in 0..<rows {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let x = Double(state >> 11) / Double(1 << 53) * 10
            let frequent = i % 2 == 0
            let rare = levels - 20
            let level = !manyLevels ? "L\(i % 10)" : frequent ? "H\(i / 2 % 20)" : "T\((i / 2 &* 7919) % rare)"
            let label = (x + (frequent && i / 2 % 20 < 10 ? 2 : 0) + (!manyLevels && i % 10 < 5 ? 1 : 0)) > 6 ? "a" : "b"
            chunk += "\(level),\(String(format: "%.3f", x)),\(label)\n"
            if chunk.utf8.count > 1 << 20 {
                handle.write(Data(chunk.utf8))
                chunk = ""
            }
        }
        handle.write(Data(chunk.utf8))
    }

    enum Meter { case time, proc }

    /// GNU time when installed (SPACETIME_TEST_RSS_METER=proc: polling /proc instead), else polling VmHWM.
    static var meter: Meter? {
        if ProcessInfo.processInfo.environment["SPACETIME_TEST_RSS_METER"] != "proc",
            FileManager.default.isExecutableFile(atPath: "/usr/bin/time")
        {
            return .time
        }
        if (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8))?.contains("VmHWM:") == true { return .proc }
        return nil
    }

    /// Runs `spacetime arguments`; returns its exit status and peak RSS in bytes.
    static func measured(_ meter: Meter, _ arguments: [String], in dir: String, name: String) throws -> (
        status: Int32?, peak: Int, stderr: String
    ) {
        switch meter {
        case .time:
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/time")
            let timeOut = dir + "/\(name).time"
            let err = dir + "/\(name).err"
            FileManager.default.createFile(atPath: err, contents: nil)
            FileManager.default.createFile(atPath: dir + "/\(name).out", contents: nil)
            process.arguments = ["-f", "%M", "-o", timeOut, E2E.binary] + arguments
            process.currentDirectoryURL = URL(fileURLWithPath: dir)
            var env = ProcessInfo.processInfo.environment
            env["SWIFT_BACKTRACE"] = "enable=no"
            process.environment = env
            process.standardOutput = FileHandle(forWritingAtPath: dir + "/\(name).out")
            process.standardError = FileHandle(forWritingAtPath: err)
            try process.run()
            let deadline = Date().addingTimeInterval(300)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return (nil, 0, "timed out")
            }
            // GNU time writes "Command exited with non-zero status N" first when it fails; the figure is the last line (KiB).
            let text = (try? String(contentsOfFile: timeOut, encoding: .utf8)) ?? ""
            let kib = text.split(separator: "\n").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? 0
            return (process.terminationStatus, kib * 1024, (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
        case .proc:
            let child = try E2E.Child(arguments, in: dir, name: name)
            var peak = 0
            let deadline = Date().addingTimeInterval(300)
            while child.process.isRunning && Date() < deadline {
                if let status = try? String(contentsOfFile: "/proc/\(child.pid)/status", encoding: .utf8),
                    let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                    let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
                {
                    peak = max(peak, kib * 1024)
                }
                Thread.sleep(forTimeInterval: 0.01)
            }
            return (child.wait(1), peak, child.stderr)
        }
    }

    @Test func aColumnWith100kLevelsTrainsInBoundedMemory() throws {
        guard let meter = Self.meter else {
            print("skipped: neither /usr/bin/time nor /proc/self/status (VmHWM) is available to measure a child's peak RSS")
            return
        }
        let dir = try E2E.tempDir("many-levels")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.writeTable(manyLevels: true, to: dir + "/many.csv")
        try Self.writeTable(manyLevels: false, to: dir + "/few.csv")
        let flags = ["--trees", "4", "--threads", "1", "--max-depth", "14", "--seed", "3"]
        var peaks: [String: Int] = [:]
        for name in ["few", "many"] {
            let (status, peak, stderr) = try Self.measured(
                meter, ["train", name + ".csv", "--model-out", name + ".stm"] + flags,
                in: dir, name: "train-" + name)
            #expect(status == 0, "\(stderr)")
            #expect(peak > 0, "a peak RSS was read for \(name)")
            peaks[name] = peak
        }
        let few = peaks["few"] ?? 0
        let many = peaks["many"] ?? 0
        print(
            "peak RSS (\(meter)): 10 levels \(ByteCount(UInt64(few))), \(Self.levels) levels \(ByteCount(UInt64(many))), difference \((many - few) >> 10) KiB"
        )
        #expect(many <= few + (64 << 20), "100,000 levels: \(ByteCount(UInt64(many))) vs 10 levels: \(ByteCount(UInt64(few)))")

        let (status, child) = try E2E.run(["inspect", "many.stm", "--json"], in: dir, name: "inspect")
        #expect(status == 0, "\(child.stderr)")
        let object = (try JSONSerialization.jsonObject(with: Data(child.stdout.utf8))) as? [String: Any] ?? [:]
        let tail = (object["column_kinds"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "tail" }
        #expect(tail?["kind"] as? String == "categorical", "\(object["column_kinds"] ?? "none")")
        let kept = (tail?["levels"] as? [String])?.count ?? 0
        #expect(kept >= 20 && kept <= 255, "the 20 frequent levels and at most the bins' worth kept, got \(kept)")
        let (textStatus, text) = try E2E.run(["inspect", "many.stm"], in: dir, name: "inspect-text")
        #expect(textStatus == 0)
        let line = text.stdout.split(separator: "\n").first { $0.contains("tail: categorical") }.map(String.init) ?? ""
        #expect(line.contains("+ other"), "the rarer levels are folded into 'other': \(line)")
    }
}
