import ArgumentParser
import Foundation
import SpaceTime

/// How a CSV is written: `--delimiter`, `--no-header` and `--columns`, shared by every
/// command that reads one, so the same flags read a file the same way everywhere.
struct CSVFormatFlags: ParsableArguments {
    @Option(help: "Field delimiter: one character (`,` `;` `|` …), or `tab` (also `\\t`).")
    var delimiter: String = ","
    @Flag(
        name: .customLong("no-header"),
        help: "The file has no header row (name its columns with --columns; default: `column 1`, `column 2`, …).")
    var noHeader = false
    @Option(help: ArgumentHelp("With --no-header: the column names in file order, comma-separated.", valueName: "a,b,…"))
    var columns: String?

    func validate() throws { _ = try options() }

    /// The reader options these flags describe; a bad value is a `ValidationError` naming its flag.
    func options() throws -> CSVOptions {
        var o = CSVOptions()
        let d = delimiter == "tab" || delimiter == "\\t" ? "\t" : delimiter
        guard d.utf8.count == 1, let byte = d.utf8.first, byte != UInt8(ascii: "\""), byte != 10, byte != 13, byte < 0x80 else {
            throw ValidationError("--delimiter must be one ASCII character other than a quote or a line end, or `tab`; got `\(delimiter)`")
        }
        o.delimiter = byte
        o.hasHeader = !noHeader
        if let columns {
            guard noHeader else { throw ValidationError("--columns names the columns of a file without a header: give --no-header too") }
            let names = columns.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            if let empty = names.firstIndex(where: \.isEmpty) {
                throw ValidationError("--columns: name \(empty + 1) is empty")
            }
            var seen = Set<String>()
            for name in names where !seen.insert(name).inserted {
                throw ValidationError("--columns: \(name) is named twice")
            }
            o.columnNames = names
        }
        return o
    }
}
