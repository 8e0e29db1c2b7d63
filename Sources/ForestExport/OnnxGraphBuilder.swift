import Foundation

/// ONNX tensor element types used by the exporter (`TensorProto.DataType`).
enum DataType: Int64 {
    case float = 1
    case uint8 = 2
    case int64 = 7
    case string = 8
    case double = 11
}

/// A constant tensor's values (one-dimensional).
enum TensorValue: Equatable {
    case doubles([Double])
    case floats([Float])
    case int64s([Int64])
    case uint8s([UInt8])
    case strings([String])

    /// The values as a `TensorProto` (numbers as little-endian `raw_data`).
    func proto(name: String = "") -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        if !name.isEmpty { t.name = name }
        func raw<T: BitwiseCopyable>(_ values: [T], _ type: DataType) {
            t.dataType = Int32(type.rawValue)
            t.dims = [Int64(values.count)]
            t.rawData = values.withUnsafeBytes { Data($0) }
        }
        switch self {
        case .doubles(let v): raw(v.map { $0.bitPattern.littleEndian }, .double)
        case .floats(let v): raw(v.map { $0.bitPattern.littleEndian }, .float)
        case .int64s(let v): raw(v.map { $0.littleEndian }, .int64)
        case .uint8s(let v): raw(v, .uint8)
        case .strings(let v):
            t.dataType = Int32(DataType.string.rawValue)
            t.dims = [Int64(v.count)]
            t.stringData = v.map { Data($0.utf8) }
        }
        return t
    }
}

/// A node attribute.
enum Attribute {
    case int(String, Int64)
    case float(String, Float)
    case string(String, String)
    case ints(String, [Int64])
    case floats(String, [Float])
    case strings(String, [String])
    case tensor(String, TensorValue)

    var proto: Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        switch self {
        case .int(let n, let v):
            a.name = n
            a.type = .int
            a.i = v
        case .float(let n, let v):
            a.name = n
            a.type = .float
            a.f = v
        case .string(let n, let v):
            a.name = n
            a.type = .string
            a.s = Data(v.utf8)
        case .ints(let n, let v):
            a.name = n
            a.type = .ints
            a.ints = v
        case .floats(let n, let v):
            a.name = n
            a.type = .floats
            a.floats = v
        case .strings(let n, let v):
            a.name = n
            a.type = .strings
            a.strings = v.map { Data($0.utf8) }
        case .tensor(let n, let v):
            a.name = n
            a.type = .tensor
            a.t = v.proto()
        }
        return a
    }
}

/// Builds a `GraphProto`: unique value names (CSV column names are taken first, as the
/// graph's inputs), nodes in topological order, constants as initializers.
struct GraphBuilder {
    private var taken: Set<String>
    private var nodes: [Onnx_NodeProto] = []
    private var inputs: [Onnx_ValueInfoProto] = []
    private var outputs: [Onnx_ValueInfoProto] = []
    private var initializers: [Onnx_TensorProto] = []

    init(reserved: [String]) { taken = Set(reserved) }

    func isTaken(_ name: String) -> Bool { taken.contains(name) }
    mutating func reserve(_ name: String) { taken.insert(name) }

    /// `base`, or `base_2`, `base_3`, … : a name no other value has.
    mutating func fresh(_ base: String) -> String {
        var name = base
        var n = 1
        while taken.contains(name) {
            n += 1
            name = "\(base)_\(n)"
        }
        taken.insert(name)
        return name
    }

    mutating func input(_ name: String, type: DataType, shape: [Int?]) { inputs.append(Self.valueInfo(name, type, shape)) }
    mutating func output(_ name: String, type: DataType, shape: [Int?]) { outputs.append(Self.valueInfo(name, type, shape)) }

    mutating func node(_ op: String, inputs: [String], outputs: [String], domain: String = "", attributes: [Attribute] = []) {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = fresh(op)
        if !domain.isEmpty { n.domain = domain }
        n.input = inputs
        n.output = outputs
        n.attribute = attributes.map(\.proto)
        nodes.append(n)
    }

    /// A constant as an initializer; returns its name.
    mutating func constant(_ value: TensorValue) -> String {
        let name = fresh("const")
        initializers.append(value.proto(name: name))
        return name
    }

    func graph(name: String) -> Onnx_GraphProto {
        var g = Onnx_GraphProto()
        g.name = name
        g.node = nodes
        g.input = inputs
        g.output = outputs
        g.initializer = initializers
        return g
    }

    /// A tensor value info; nil dimensions are the batch dimension `N`.
    static func valueInfo(_ name: String, _ type: DataType, _ shape: [Int?]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var t = Onnx_TypeProto.Tensor()
        t.elemType = Int32(type.rawValue)
        var s = Onnx_TensorShapeProto()
        s.dim = shape.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = Int64(d) } else { dim.dimParam = "N" }
            return dim
        }
        t.shape = s
        var tp = Onnx_TypeProto()
        tp.tensorType = t
        v.type = tp
        return v
    }
}
