import Foundation
import SpaceTime

/// Renders a ``JobReport`` as one self-contained HTML page: inline CSS and SVG, no
/// script, no font or image fetched, light and dark schemes (`prefers-color-scheme`),
/// printable, and laid out for narrow screens. Sections have stable ids (`summary`,
/// `stages`, `timeline`, `memory`, `quality`, `importance`); every plot is a
/// `<figure data-plot="…">`, and the headline numbers carry `data-key`/`data-value`
/// (full precision) so tools can read them back.
public enum ReportHTML {
    public static func render(_ report: JobReport) -> String {
        var page = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        page += "<meta name=\"color-scheme\" content=\"light dark\">\n"
        if report.state == .running {
            page += "<meta http-equiv=\"refresh\" content=\"\(JobReport.refreshSeconds)\">\n"
        }
        page += "<title>\(SVG.escape(report.title))</title>\n<style>\(stylesheet)</style>\n</head>\n"
        page += "<body data-state=\"\(report.state.rawValue)\">\n<header>\n<h1>\(SVG.escape(report.title))</h1>\n"
        page +=
            "<p class=\"state \(report.state.rawValue)\" data-key=\"state\" data-value=\"\(report.state.rawValue)\">\(SVG.escape(stateLine(report)))</p>\n"
        page += "<nav><a href=\"#summary\">Summary</a> <a href=\"#stages\">Stages</a> <a href=\"#timeline\">Timeline</a> "
        page +=
            "<a href=\"#memory\">Memory</a> <a href=\"#quality\">Model quality</a> <a href=\"#importance\">Feature importance</a></nav>\n</header>\n<main>\n"
        page += summarySection(report)
        page += stagesSection(report)
        page += timelineSection(report)
        page += memorySection(report)
        page += qualitySection(report)
        page += importanceSection(report)
        page +=
            "</main>\n<footer>Generated \(SVG.escape(isoTime(report.generatedAt))) by spacetime report from \(SVG.escape(report.summary.source)).</footer>\n</body>\n</html>\n"
        return page
    }

    static func stateLine(_ r: JobReport) -> String {
        switch r.state {
        case .running: "Running — stage \(r.stage); this page refreshes itself every \(JobReport.refreshSeconds) s."
        case .done: "Done."
        case .failed: "Failed: \(r.failure ?? "no reason recorded")"
        }
    }

    // MARK: Small HTML helpers

    static func isoTime(_ t: Double) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date(timeIntervalSince1970: t))
    }

    static func section(_ id: String, _ title: String, _ body: String) -> String {
        "<section id=\"\(id)\">\n<h2>\(SVG.escape(title))</h2>\n\(body)</section>\n"
    }

    static func note(_ text: String?) -> String {
        text.map { "<p class=\"note\">\(SVG.escape($0))</p>\n" } ?? ""
    }

    /// A figure holding one plot, its caption and an optional legend.
    static func figure(
        _ plot: String, caption: String, svg: String, legend: [(name: String, classes: String)] = [],
        wide: Bool = false
    ) -> String {
        var s = "<figure class=\"plot\(wide ? " wide" : "")\" data-plot=\"\(plot)\">\n"
        s += wide ? "<div class=\"scroll\">\(svg)</div>\n" : svg + "\n"
        if !legend.isEmpty {
            s +=
                "<ul class=\"legend\">"
                + legend.map { "<li><span class=\"swatch \($0.classes)\"></span>\(SVG.escape($0.name))</li>" }.joined() + "</ul>\n"
        }
        return s + "<figcaption>\(SVG.escape(caption))</figcaption>\n</figure>\n"
    }

    /// A number as text with `digits` decimals, "—" when absent.
    static func fixed(_ x: Double?, _ digits: Int = 4) -> String {
        guard let x, x.isFinite else { return "—" }
        return String(format: "%.\(digits)f", x)
    }

    /// A headline number: shown rounded, carried at full precision in `data-value`.
    static func tile(_ key: String, _ label: String, _ value: Double?, digits: Int = 4) -> String {
        let raw = value.map { "\($0)" } ?? ""
        return
            "<div class=\"tile\" data-key=\"\(key)\" data-value=\"\(raw)\"><span>\(SVG.escape(label))</span><b>\(fixed(value, digits))</b></div>"
    }

    static func bytes(_ b: UInt64?) -> String { b.map { ByteCount($0).description } ?? "—" }

    static func seconds(_ s: Double?) -> String {
        guard let s, s.isFinite else { return "—" }
        return s < 60 ? String(format: "%.2f s", s) : Ticks.timeLabel(s)
    }

    /// A cell with a value against a limit, and a meter showing the share.
    static func meter(_ value: UInt64?, limit: UInt64) -> String {
        guard let value else { return "<td class=\"num\">—</td>" }
        guard value > 0 else { return "<td class=\"num\" data-peak=\"0\" data-limit=\"\(limit)\">— / \(bytes(limit))</td>" }
        guard limit > 0 else { return "<td class=\"num\">\(bytes(value))</td>" }
        let share = Double(value) / Double(limit)
        let over = share > 1 ? " over" : share > 0.8 ? " high" : ""
        return "<td class=\"num\" data-peak=\"\(value)\" data-limit=\"\(limit)\">\(bytes(value)) / \(bytes(limit))"
            + "<span class=\"meter\(over)\"><span style=\"width:\(SVG.num(min(share, 1) * 100))%\"></span></span></td>"
    }

    // MARK: Summary

    static func summarySection(_ r: JobReport) -> String {
        let s = r.summary
        var rows: [(String, String)] = []
        rows.append(("Source", s.source))
        if let id = s.jobID { rows.append(("Job", id)) }
        rows.append(("Data", s.dataFiles.isEmpty ? "—" : s.dataFiles.joined(separator: ", ")))
        let rowText = [s.trainRows.map { "\($0) train" }, s.testRows.map { "\($0) test" }].compactMap { $0 }.joined(separator: " + ")
        rows.append(("Rows", rowText.isEmpty ? "—" : rowText))
        let kinds = Dictionary(grouping: s.columns, by: \.kind).map { "\($0.value.count) \($0.key)" }.sorted().joined(separator: ", ")
        rows.append(
            (
                "Columns",
                "\(s.columns.count) features (\(kinds.isEmpty ? "none" : kinds)); label \(s.label.isEmpty ? "—" : s.label)"
                    + (s.ignoredColumns.isEmpty ? "" : "; ignored \(s.ignoredColumns.joined(separator: ", "))")
            ))
        rows.append(("Task", s.task + (s.taskDetail.isEmpty ? "" : " — \(s.taskDetail)")))
        var trees = "\(s.trees)"
        if let done = s.treesDone, done < s.trees { trees = "\(done) of \(s.trees) checkpointed" }
        rows.append(("Trees", trees + (s.partitions.map { " in \($0) partition(s)" } ?? "")))
        rows.append(("Fingerprint", s.fingerprint ?? "— (not saved yet)"))
        rows.append(("Wall time", seconds(s.wallSeconds)))
        if let peak = r.processPeakRSS { rows.append(("Peak RSS", bytes(peak) + " (this process)")) }
        rows.append(("Outcome", s.outcome))
        var body = "<dl class=\"facts\">" + rows.map { "<dt>\(SVG.escape($0.0))</dt><dd>\(SVG.escape($0.1))</dd>" }.joined() + "</dl>\n"
        body += "<div class=\"tiles\">" + headlineTiles(r) + "</div>\n"
        body += "<details><summary>Parameters (\(s.parameters.count))</summary><table class=\"kv\"><tbody>"
        body += s.parameters.map { "<tr><th>\(SVG.escape($0.key))</th><td>\(SVG.escape($0.value))</td></tr>" }.joined()
        body += "</tbody></table></details>\n"
        body +=
            "<details\(s.columns.count <= 12 ? " open" : "")><summary>Columns (\(s.columns.count))</summary><div class=\"scroll\"><table class=\"columns\"><thead><tr><th>column</th><th>kind</th><th>levels kept</th></tr></thead><tbody>"
        body += s.columns.map {
            "<tr><td>\(SVG.escape($0.name))</td><td>\(SVG.escape($0.kind))</td><td class=\"num\">\($0.levels.map(String.init) ?? "")</td></tr>"
        }.joined()
        body += "</tbody></table></div></details>\n"
        return section("summary", "Summary", body)
    }

    static func headlineTiles(_ r: JobReport) -> String {
        if let c = r.classification {
            return tile("accuracy", "accuracy", c.accuracy) + tile("balanced_accuracy", "balanced accuracy", c.balancedAccuracy)
                + tile("auc", "ROC AUC", c.auc) + tile("log_loss", "log loss", c.logLoss)
                + "<div class=\"tile\" data-key=\"rows\" data-value=\"\(c.rows)\"><span>test rows</span><b>\(c.rows)</b></div>"
        }
        if let g = r.regression {
            return tile("r2", "R²", g.r2) + tile("rmse", "RMSE", g.rmse) + tile("mae", "MAE", g.mae)
                + "<div class=\"tile\" data-key=\"rows\" data-value=\"\(g.rows)\"><span>test rows</span><b>\(g.rows)</b></div>"
        }
        return ""
    }

    // MARK: Stages

    static func stagesSection(_ r: JobReport) -> String {
        guard !r.stages.isEmpty else { return section("stages", "Stages", note(r.notes["stages"] ?? "no stage has started yet")) }
        let workers = r.stages.first?.peaks.map(\.worker) ?? []
        var body = "<div class=\"scroll\"><table class=\"stages\"><thead><tr><th>stage</th><th>wall time</th><th>rows</th><th>rows/s</th>"
        body += workers.map { "<th>\(SVG.escape($0)) peak / limit</th>" }.joined() + "</tr></thead><tbody>\n"
        let longest = max(r.stages.map(\.seconds).max() ?? 0, 1e-9)
        for st in r.stages {
            body +=
                "<tr data-stage=\"\(SVG.escape(st.name))\" data-seconds=\"\(st.seconds)\" data-rows=\"\(st.rows.map(String.init) ?? "")\">"
            body += "<td>\(SVG.escape(st.name))</td>"
            body +=
                "<td class=\"num\">\(st.finished ? seconds(st.seconds) : "running")<span class=\"meter time\"><span style=\"width:\(SVG.num(st.seconds / longest * 100))%\"></span></span></td>"
            body += "<td class=\"num\">\(st.rows.map(String.init) ?? "—")</td>"
            body += "<td class=\"num\">\(st.rowsPerSecond.map { String(format: "%.0f", $0) } ?? "—")</td>"
            body += st.peaks.map { meter($0.peak, limit: $0.limit) }.joined()
            body += "</tr>\n"
        }
        body += "</tbody></table></div>\n"
        if workers.isEmpty, let peak = r.processPeakRSS {
            body += note("One process: its peak RSS was \(bytes(peak)) over the whole run.")
        } else if !workers.isEmpty {
            body += note(
                "Peak per worker: the highest RSS its attempts of the stage's tasks reported, or its heartbeats sampled during the stage.")
        }
        return section("stages", "Stages", body)
    }
}
