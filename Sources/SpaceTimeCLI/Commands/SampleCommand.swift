import ArgumentParser
import Foundation
import SpaceTime

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Take a seeded random sample of a CSV file's rows, optionally stratified by a column.",
        discussion: """
            --fraction F keeps ⌊F·n⌉ rows (within one row) of the file or, with --stratify-by, of \
            every class, in file order, in one streaming pass (the same seeded block scheme as the \
            trainer's train/test split). --rows N keeps a uniform sample of N rows (per class with \
            --stratify-by) by reservoir sampling (Algorithm L); those rows are held in memory. \
            The output is written atomically, or to standard output with --out -; it is never the input file.
            """
    )

    @Argument(help: "The CSV file (with a header row).")
    var file: String

    @Option(help: "Fraction of rows to keep, in (0, 1].")
    var fraction: Double?

    @Option(help: "Number of rows to keep, 0 or more (per class with --stratify-by).")
    var rows: Int?

    @Option(help: "Keep the fraction (or count) within every class of this column.")
    var stratifyBy: String?

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    @Option(help: "Output CSV file, or - for standard output (never the input file).")
    var out: String

    @OptionGroup var csv: CSVCommandOptions

    func validate() throws {
        if (fraction == nil) == (rows == nil) { throw ValidationError("give exactly one of --fraction and --rows") }
        if let f = fraction, !(f > 0 && f <= 1) { throw ValidationError("--fraction must be in (0, 1], got \(f)") }
        if let n = rows, n < 0 { throw ValidationError("--rows must be ≥ 0, got \(n)") }
        try OutputPaths.refuseOverwrite(outputs: [("--out", out)], inputs: [("input", file)])
        try probeWritable([("--out", out)])
    }

    func run() throws {
        let started = Date()
        let options = try csv.options()
        let reader = try CSVReader(path: file, options: options)
        let classColumn = try stratifyBy.map { name throws -> Int in
            if let i = reader.header.firstIndex(of: name) { return i }
            return try reader.columnIndex(named: name)
        }
        if let c = classColumn { reader.extractOnly(column: c) }
        let writer = try OutputSink(path: out)
        var kept = 0
        do {
            try writer.append(Array(CSVHeaderWriter.line(reader.header, delimiter: options.delimiter).utf8))
            let newline: [UInt8] = [10]
            if let fraction {
                var assigner = fraction < 1 ? try StratifiedAssigner(seed: seed, testFraction: fraction) : nil
                while let r = try reader.next() {
                    let take: Bool
                    if assigner == nil {
                        take = true
                    } else if let c = classColumn {
                        take = r.withField(at: c) { assigner!.assign(classBytes: $0).isTest }
                    } else {
                        take = assigner!.assign(classHash: 0).isTest
                    }
                    if take {
                        try r.withRawBytes { try writer.append($0) }
                        try writer.append(newline)
                        kept += 1
                    }
                }
            } else if let n = rows {
                // (row index, raw bytes); output in file order.
                var picked: [(Int, [UInt8])] = []
                var index = 0
                if let c = classColumn {
                    var sampler = StratifiedReservoirSampler<(Int, [UInt8])>(perClass: n, seed: seed)
                    while let r = try reader.next() {
                        let i = index
                        sampler.offer(classKey: r.string(at: c), (i, r.withRawBytes { Array($0) }))
                        index += 1
                    }
                    for (_, s) in sampler.samples { picked += s.items }
                } else {
                    var sampler = ReservoirSampler<(Int, [UInt8])>(capacity: n, seed: seed)
                    while let r = try reader.next() {
                        let i = index
                        sampler.offer((i, r.withRawBytes { Array($0) }))
                        index += 1
                    }
                    picked = sampler.items
                }
                picked.sort { $0.0 < $1.0 }
                for (_, raw) in picked {
                    try writer.append(raw)
                    try writer.append(newline)
                }
                kept = picked.count
            }
            try writer.commit()
        } catch {
            writer.abort()
            throw error
        }
        csv.reportSkipped(reader.skippedRows, reader.skippedErrors)
        if csv.verbose {
            writeStandardError("kept \(kept) of \(reader.recordsRead) rows\n")
        }
        csv.reportResources(bytes: reader.bytesRead, seconds: Date().timeIntervalSince(started))
    }
}
