/// The header of a NumPy `.npy` file, format version 1.0: the magic string, the version,
/// a little-endian `UInt16` header length and a Python dict literal naming the element
/// type, the memory order and the shape, padded with spaces and a newline so the data
/// starts at a multiple of 64 bytes (what `numpy.load(mmap_mode="r")` maps directly).
public struct NpyHeader: Sendable, Equatable {
    /// Element types SpaceTime writes.
    public enum ElementType: String, Sendable, Codable {
        case float32 = "<f4"
        case float64 = "<f8"
        case int64 = "<i8"
        case uint8 = "|u1"

        /// Bytes per element.
        public var size: Int {
            switch self {
            case .float32: 4
            case .float64, .int64: 8
            case .uint8: 1
            }
        }
    }

    public var type: ElementType
    /// Row count, then columns for a matrix (empty: a scalar; one value: a vector).
    public var shape: [Int]
    /// Column-major data (`fortran_order: True`).
    public var fortranOrder = false

    public init(type: ElementType, shape: [Int], fortranOrder: Bool = false) {
        self.type = type
        self.shape = shape
        self.fortranOrder = fortranOrder
    }

    /// Bytes of data the header announces.
    public var dataBytes: Int { shape.reduce(1, *) * type.size }

    /// The header bytes (a multiple of 64 long).
    public func encoded() -> [UInt8] {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(type.rawValue)', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': \(dims), }"
        let prefix = 10
        let padded = (prefix + dict.utf8.count + 1 + 63) / 64 * 64
        dict += String(repeating: " ", count: padded - prefix - dict.utf8.count - 1) + "\n"
        let length = UInt16(dict.utf8.count)
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(dict.utf8)
    }
}
