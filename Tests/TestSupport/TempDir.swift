import Foundation

/// A fresh temporary directory, removed by `cleanup()`.
public struct TempDir {
    public let path: String
    public init(_ tag: String = "t") {
        path = NSTemporaryDirectory() + "spacetime-tests-\(tag)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    public func file(_ name: String) -> String { path + "/" + name }
    public func write(_ name: String, _ text: String) -> String {
        let p = file(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }
    public func write(_ name: String, bytes: [UInt8]) -> String {
        let p = file(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }
    public func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}
