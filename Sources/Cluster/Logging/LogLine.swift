import Foundation
import Logging

/// The line SpaceTime's processes write to standard error for a log event:
/// `HH:MM:SS WHO [level: ]text[ [key=value …]]` (local time). Info lines have no level
/// word; the others say `warning: `, `error: ` and so on. The metadata follows the text in
/// ``LogKey/order`` (other keys sorted), except a key the line already names: its value
/// as a whole word of WHO or the text (for a number, after the key's name: `attempt 7`),
/// and the peer of a line about a known worker (the worker's id names it).
/// The texts name what they are about, so most lines end with their text.
public enum LogLine {
    /// The line for an event at `date` (without a newline).
    public static func format(
        who: String, level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata = [:], at date: Date = Date(),
        timeZone: TimeZone = .current
    ) -> String {
        let time = ISO8601DateFormatter.string(from: date, timeZone: timeZone, formatOptions: [.withTime, .withColonSeparatorInTime])
        let text = message.description
        var line = "\(time) \(who) \(level == .info ? "" : "\(level.rawValue): ")\(text)"
        let shown = shownMetadata(metadata, text: "\(who) \(text)")
        if !shown.isEmpty { line += " [" + shown.map { "\($0.key)=\(quoted($0.value))" }.joined(separator: " ") + "]" }
        return line
    }

    /// The metadata a line with `text` (WHO and the message) shows, in order: keys the text does not name.
    static func shownMetadata(_ metadata: Logger.Metadata, text: String) -> [(key: String, value: String)] {
        let keys = LogKey.order.filter { metadata[$0] != nil } + metadata.keys.filter { !LogKey.order.contains($0) }.sorted()
        return keys.compactMap { key in
            if key == LogKey.peer && metadata[LogKey.worker] != nil { return nil }
            guard let value = metadata[key]?.description, !names(text, key: key, value: value) else { return nil }
            return (key, value)
        }
    }

    /// Whether `text` names `value`: as a whole word, or for a number after the key's name
    /// (`attempt 7`, so that another 7 in the text does not count).
    static func names(_ text: String, key: String, value: String) -> Bool {
        guard !value.isEmpty else { return true }
        let needle = value.allSatisfy(\.isNumber) ? "\(key) \(value)" : value
        var searchStart = text.startIndex
        while let range = text.range(of: needle, range: searchStart..<text.endIndex) {
            let before = range.lowerBound == text.startIndex ? nil : text[text.index(before: range.lowerBound)]
            let after = range.upperBound == text.endIndex ? nil : text[range.upperBound]
            if !(before.map(isWordCharacter) ?? false) && !(after.map(isWordCharacter) ?? false) { return true }
            searchStart = text.index(after: range.lowerBound)
        }
        return false
    }

    private static func isWordCharacter(_ c: Character) -> Bool {
        c.isLetter || c.isNumber || "_-./".contains(c)
    }

    /// `value`, in double quotes (with `"` and `\` escaped) when it has a space, `=`, `]` or `"`.
    private static func quoted(_ value: String) -> String {
        guard value.contains(where: { $0.isWhitespace || "=]\"".contains($0) }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
