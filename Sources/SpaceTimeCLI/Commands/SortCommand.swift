import ArgumentParser
import Foundation
import SpaceTime

struct SortCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sort",
        abstract: "Sort a CSV file by one column under a memory limit (external merge sort).",
        discussion: """
            Stable: rows with equal keys keep their input order. Text keys compare bytewise (UTF-8); \
            with --numeric, missing values (empty, NaN, NA…) sort last, and a non-numeric key is an \
            error naming its line and column. The output is written atomically (temporary file, \
            fsync, rename): an interrupted sort never leaves a partial OUT. --out - writes to standard \
            output (a failed write is an error). OUT is never the input file.
            """
    )

    @Argument(help: "The CSV file (with a header row).")
    var file: String

    @Option(help: "The column to sort by (header name, or 1-based number).")
    var by: String

    @Flag(help: "Compare the column as numbers.")
    var numeric = false

    @Flag(name: [.customLong("descending"), .customShort("r")], help: "Largest first (missing values still last).")
    var descending = false

    @Option(help: "Memory for sort buffers, at least 1MiB, e.g. 64MiB, 512MB, 1GiB.")
    var memoryLimit: String = "256MiB"

    @Option(help: "Directory for temporary sorted runs (default $SPACETIME_SPILL_DIR, $TMPDIR or /tmp).")
    var tempDir: String?

    @Option(help: "Output CSV file, or - for standard output (never the input file).")
    var out: String

    @OptionGroup var csv: CSVCommandOptions

    func validate() throws {
        let limit = try parseMemory(memoryLimit, "--memory-limit")
        guard limit.bytes >= 1 << 20 else { throw ValidationError("--memory-limit must be at least 1MiB, got \(limit)") }
        try OutputPaths.refuseOverwrite(outputs: [("--out", out)], inputs: [("input", file)])
        try probeWritable([("--out", out)])
    }

    func run() throws {
        let started = Date()
        SpillDirectory.removeOnTerminationSignals()  // Ctrl-C / SIGTERM must not leave sorted runs behind
        let limit = try parseMemory(memoryLimit, "--memory-limit")
        let options = try csv.options()
        let reader = try CSVReader(path: file, options: options)
        let column: Int
        if let i = reader.header.firstIndex(of: by) {
            column = i
        } else if let n = Int(by), n >= 1, n <= reader.columnCount {
            column = n - 1
        } else {
            column = try reader.columnIndex(named: by)
        }
        reader.extractOnly(column: column)
        let spill = try SpillDirectory(base: tempDir ?? SpillDirectory.defaultBase)
        defer { spill.remove() }
        // Reader and writer buffers (~1 MiB each) come out of the limit.
        let sorter = ExternalSorter(memoryLimit: max(1 << 20, limit.bytes - (2 << 20)), directory: spill)
        var key = [UInt8]()
        while let r = try reader.next() {
            key.removeAll(keepingCapacity: true)
            if numeric {
                let x: Double
                do throws(CSVError) { x = try r.double(at: column) } catch {
                    try reader.skipOrThrow(error)
                    continue
                }
                var k = SortKey.double(x)
                if descending && !x.isNaN { k = ~k }
                withUnsafeBytes(of: k) { key.append(contentsOf: $0) }
            } else {
                r.withField(at: column) { key.append(contentsOf: $0) }
                if descending {
                    key.append(0)
                    for i in key.indices { key[i] = ~key[i] }
                }
            }
            try key.withUnsafeBytes { k in try r.withRawBytes { raw in try sorter.append(key: k, value: raw) } }
        }
        let sorted = try sorter.finish()
        let sink = try OutputSink(path: out)
        do {
            try sink.append(Array(CSVHeaderWriter.line(reader.header, delimiter: options.delimiter).utf8))
            let newline: [UInt8] = [10]
            while let (_, value) = try sorted.next() {
                try sink.append(value)
                try sink.append(newline)
            }
            try sink.commit()
        } catch {
            sink.abort()
            throw error
        }
        csv.reportSkipped(reader.skippedRows, reader.skippedErrors)
        if csv.verbose {
            writeStandardError(
                "sorted \(sorter.count) rows: \(sorter.runsWritten) runs, \(sorter.intermediatePasses) intermediate merge passes, fan-in \(sorter.fanIn)\n"
            )
        }
        csv.reportResources(bytes: reader.bytesRead, seconds: Date().timeIntervalSince(started))
    }
}

/// Writes a header row back as CSV, quoting names that need it.
enum CSVHeaderWriter {
    static func line(_ names: [String], delimiter: UInt8) -> String {
        let d = Character(Unicode.Scalar(delimiter))
        return names.map { n in
            n.contains(where: { $0 == d || $0 == "\"" || $0 == "\n" || $0 == "\r" }) || n.hasPrefix(" ")
                ? "\"" + n.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : n
        }.joined(separator: String(d)) + "\n"
    }
}
