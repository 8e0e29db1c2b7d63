import ArgumentParser
import Forest
import Foundation
import SpaceTime

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict a CSV file with a saved model (streaming, bounded memory, input order kept)."
    )

    @Option(help: "Model file written by 'spacetime train'.") var model: String
    @Argument(help: "Input CSV; feature columns are matched by name, other columns ignored.") var file: String
    @Option(name: .shortAndLong, help: "Output CSV path, or - for standard output.") var out = "predictions.csv"
    @Flag(help: "Also write one probability column per class (p_<class>).") var proba = false
    @Option(help: "Threads for scoring.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .customLong("batch-rows"), help: "Rows scored per batch (bounds memory).") var batchRows = 8192

    func run() throws {
        guard batchRows >= 1 else { throw ValidationError("--batch-rows must be at least 1") }
        let m = try ForestModel.load(from: model)
        let classes = m.extractor.classes
        let C = classes.count
        var header = "prediction"
        if proba { header += classes.map { ",p_\($0)" }.joined() }
        let writer: AtomicFileWriter? = out == "-" ? nil : try AtomicFileWriter(path: out)
        func emit(_ bytes: [UInt8]) throws {
            if let writer { try writer.append(bytes) } else { FileHandle.standardOutput.write(Data(bytes)) }
        }
        var rows = 0
        do {
            try emit(Array((header + "\n").utf8))
            var buffer: [UInt8] = []
            try StreamingPrediction.run(model: m, path: file, requireLabel: false, batchRows: batchRows, threads: threads) { batch in
                buffer.removeAll(keepingCapacity: true)
                try batch.probabilities.withUnsafeBufferPointer { p in
                    for r in 0..<batch.rows {
                        let row = UnsafeBufferPointer(rebasing: p[r * C..<(r + 1) * C])
                        buffer.append(contentsOf: classes[RandomForest.argmax(row)].utf8)
                        if proba {
                            for c in 0..<C {
                                buffer.append(44)
                                buffer.append(contentsOf: String(row[c]).utf8)
                            }
                        }
                        buffer.append(10)
                    }
                    try emit(buffer)
                }
                rows += batch.rows
            }
            try writer?.commit()
        } catch {
            writer?.abort()
            throw error
        }
        if writer != nil { FileHandle.standardError.write(Data("predicted \(rows) rows to \(out)\n".utf8)) }
    }
}
