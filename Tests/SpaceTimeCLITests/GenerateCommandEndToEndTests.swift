import Forest
import Foundation
import TestSupport
import Testing

/// `spacetime generate`: informative / redundant defaults scaled to --features,
/// and help text wrapped by the parser, not in the middle of sentences.
@Suite struct GenerateCommandEndToEndTests {
    @Test func defaultCountsScaleWithTheFeatures() throws {
        typealias C = SyntheticClassification.Configuration
        func counts(_ features: Int, classes: Int = 2, clusters: Int = 2, informative: Int? = nil, redundant: Int? = nil) -> [Int] {
            let c = C.scaledCounts(
                features: features, classes: classes, clustersPerClass: clusters,
                informative: informative, redundant: redundant)
            return [c.informative, c.redundant]
        }
        // 50 features keep the fixed defaults of before (the default data set is unchanged).
        #expect(counts(50, classes: 2, clusters: 2) == [20, 10])
        #expect(counts(20, classes: 2, clusters: 2) == [8, 4])
        #expect(counts(10, classes: 2, clusters: 2) == [4, 2])
        // Enough informative features for the clusters' hypercube vertices when the features allow it.
        #expect(counts(3, classes: 4, clusters: 2) == [3, 0])
        #expect(counts(2, classes: 2, clusters: 2) == [2, 0])
        // A given count is kept; the other default makes room for it.
        #expect(counts(20, classes: 2, clusters: 2, informative: 18) == [18, 2])
        #expect(counts(20, classes: 2, clusters: 2, redundant: 15) == [5, 15])
        #expect(counts(20, classes: 2, clusters: 2, informative: 5, redundant: 2) == [5, 2])
        for features in 2...200 {
            let (i, r) = C.scaledCounts(features: features, classes: 2, clustersPerClass: 2)
            var c = C()
            c.features = features
            c.informative = i
            c.redundant = r
            #expect(throws: Never.self, "features \(features): \(i) + \(r)") { try c.validate() }
        }
    }

    @Test func generateWithOnlyFeaturesWorksAndFiftyIsUnchanged() throws {
        let dir = try E2E.tempDir("generate")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, child) = try E2E.run(["generate", "--rows", "50", "--features", "20", "--out", "small.csv"], in: dir, name: "g20")
        #expect(status == 0, "\(child.stderr)")
        let header = try String(contentsOfFile: dir + "/small.csv", encoding: .utf8).split(separator: "\n").first ?? ""
        #expect(header.split(separator: ",").count == 21)
        // The default (50 features) equals the explicit 20 informative + 10 redundant of before.
        let (a, _) = try E2E.run(["generate", "--rows", "200", "--out", "default.csv"], in: dir, name: "g50")
        let (b, _) = try E2E.run(
            ["generate", "--rows", "200", "--informative", "20", "--redundant", "10", "--out", "explicit.csv"],
            in: dir, name: "g50e")
        #expect(a == 0 && b == 0)
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: dir + "/default.csv"))
                == Data(contentsOf: URL(fileURLWithPath: dir + "/explicit.csv")))
    }

    /// Paragraphs of the discussion fill their lines: a line followed by another line of the
    /// same paragraph is not cut short (it was: "...on hypercube" / "vertices in ...").
    @Test func helpParagraphsAreNotBrokenMidSentence() throws {
        let dir = try E2E.tempDir("generate-help")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for command in ["generate", "train", "local", "coordinator", "worker"] {
            // The parser fills lines of 80 columns (79 characters) without a terminal.
            let (status, child) = try E2E.run([command, "--help"], in: dir, name: "help-" + command, environment: ["COLUMNS": "80"])
            #expect(status == 0)
            let text = child.stdout
            let body = text.components(separatedBy: "USAGE:").first ?? ""
            let lines = body.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for (line, next) in zip(lines, lines.dropFirst()) where !line.isEmpty && !next.isEmpty {
                #expect(
                    line.count + 1 + (next.split(separator: " ").first?.count ?? 0) >= 80,
                    "\(command) --help: the line '\(line)' is broken before '\(next)', which would fit")
            }
            if command == "generate" {
                #expect(text.contains("40 % of --features"))
            }
        }
    }
}
