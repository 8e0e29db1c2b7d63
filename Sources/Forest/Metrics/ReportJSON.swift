import Foundation

/// A report value written as `null` when absent, where synthesized `Encodable` would leave its key out.
@propertyWrapper
public struct NullWhenAbsent<Value: Encodable & Sendable>: Encodable, Sendable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension NullWhenAbsent: Equatable where Value: Equatable {}

/// The JSON text of every report: pretty-printed with sorted keys, so that the output is stable.
public enum ReportJSON {
    /// `report` as JSON text, without a trailing newline. A non-finite number that is not
    /// mapped to `null` (``finite(_:)``) throws `EncodingError.invalidValue`.
    public static func encode(_ report: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }

    /// `value`, or nil (written as `null`) for NaN and the infinities.
    public static func finite(_ value: Double) -> Double? { value.isFinite ? value : nil }
}
