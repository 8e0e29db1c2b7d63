/// A size in bytes, parsed from text like `512MB` (512·10⁶), `512MiB` (512·2²⁰), `2GiB`, `1.5GB`
/// or plain bytes (`1048576`). Units are case-insensitive; `B` is optional (`64k`, `64Ki`).
public struct MemorySize: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var bytes: Int

    public init(bytes: Int) { self.bytes = bytes }

    public static func mebibytes(_ n: Int) -> MemorySize { MemorySize(bytes: n << 20) }
    public static func gibibytes(_ n: Int) -> MemorySize { MemorySize(bytes: n << 30) }

    /// Parses a size; throws `MemorySizeError` naming the text and the accepted forms.
    public init(parsing text: String) throws(MemorySizeError) {
        let trimmed = text.trimmingCharacters(in: " \t")
        var numberEnd = trimmed.startIndex
        while numberEnd < trimmed.endIndex, trimmed[numberEnd].isASCII, trimmed[numberEnd].isNumber || trimmed[numberEnd] == "." {
            numberEnd = trimmed.index(after: numberEnd)
        }
        let numberText = trimmed[..<numberEnd]
        let unit = trimmed[numberEnd...].trimmingCharacters(in: " ").lowercased()
        guard !numberText.isEmpty, let number = Double(numberText), number.isFinite else {
            throw MemorySizeError(text: text)
        }
        let multipliers: [String: Double] = [
            "": 1, "b": 1,
            "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
            "ki": 1024, "kib": 1024, "mi": 1_048_576, "mib": 1_048_576,
            "gi": 1_073_741_824, "gib": 1_073_741_824, "ti": 1_099_511_627_776, "tib": 1_099_511_627_776
        ]
        guard let m = multipliers[unit] else { throw MemorySizeError(text: text) }
        let value = (number * m).rounded(.down)
        guard value < 9.0e18 else { throw MemorySizeError(text: text) }
        if unit.isEmpty || unit == "b", numberText.contains(".") { throw MemorySizeError(text: text) }
        bytes = Int(value)
    }

    /// Human-readable, binary units (``ByteCount``): `64 MiB`, `1.5 GiB`, `900 B`.
    public var description: String { ByteCount(bytes).description }

    public static func < (a: MemorySize, b: MemorySize) -> Bool { a.bytes < b.bytes }
}

/// A size string that is not a valid size.
public struct MemorySizeError: Error, CustomStringConvertible, Sendable, Equatable {
    public var text: String
    public var description: String {
        "invalid memory size `\(text)`: expected a number of bytes or a number with a unit, e.g. 512MB (10^6), 512MiB (2^20), 2GiB"
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
