extension ReportHTML {
    /// The page's stylesheet: system fonts only, colours as variables with a dark scheme,
    /// a print layout, and a single column below 700 px.
    static let stylesheet = """
        :root{--bg:#ffffff;--fg:#1c2230;--muted:#5c6577;--line:#dde1e8;--band:#f3f5f8;--card:#f8f9fb;
        --c0:#2f6bd8;--c1:#e0701a;--c2:#1e9467;--c3:#c93a32;--c4:#8452cc;--c5:#9a7416;--c6:#cf3f94;--c7:#2f8fa3;--c8:#6f8a1f;--c9:#6b7280;
        --heat:#2f6bd8;--bad:#c93a32;--warn:#d08a00;
        --k-extract:#7c5cc4;--k-train:#2f6bd8;--k-evaluate:#1e9467;--k-predict:#b8731c}
        @media (prefers-color-scheme:dark){:root{--bg:#13161c;--fg:#e4e7ee;--muted:#9aa3b4;--line:#2c323d;--band:#1a1e26;--card:#191d24;
        --c0:#6d9ff5;--c1:#f39a4e;--c2:#4cc796;--c3:#f07167;--c4:#b18cf0;--c5:#d4b04a;--c6:#ef7fc0;--c7:#5cc3d6;--c8:#a9c64e;--c9:#9aa3b4;
        --heat:#6d9ff5;--bad:#f07167;--warn:#f0b429;
        --k-extract:#9b80e0;--k-train:#4f86e8;--k-evaluate:#38b383;--k-predict:#d69a45}}
        *{box-sizing:border-box}
        html{-webkit-text-size-adjust:100%}
        body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
        header,main,footer{max-width:1100px;margin:0 auto;padding:0 20px}
        header{padding-top:18px}
        h1{font-size:1.5rem;margin:0 0 4px;overflow-wrap:anywhere}
        h2{font-size:1.2rem;margin:0 0 12px;padding-bottom:4px;border-bottom:1px solid var(--line)}
        h3{font-size:1rem;margin:18px 0 8px}
        nav{display:flex;flex-wrap:wrap;gap:4px 14px;margin:8px 0 4px;font-size:.92rem}
        nav a{color:var(--c0);text-decoration:none}
        section{margin:22px 0 30px}
        .state{margin:0;font-weight:600}
        .state.running{color:var(--warn)}
        .state.failed{color:var(--bad)}
        .state.done{color:var(--c2)}
        .facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0 0 14px}
        .facts dt{color:var(--muted)}
        .facts dd{margin:0;overflow-wrap:anywhere}
        .tiles{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0 14px}
        .tile{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:118px}
        .tile span{display:block;color:var(--muted);font-size:.82rem}
        .tile b{font-size:1.25rem;font-variant-numeric:tabular-nums}
        details{margin:8px 0}
        summary{cursor:pointer;color:var(--muted)}
        table{border-collapse:collapse;font-size:.9rem;font-variant-numeric:tabular-nums}
        th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
        th{color:var(--muted);font-weight:600}
        td.num{text-align:right;white-space:nowrap}
        .scroll{overflow-x:auto;max-width:100%}
        .meter{display:block;height:4px;background:var(--line);border-radius:2px;margin-top:3px;min-width:60px}
        .meter>span{display:block;height:100%;background:var(--c2);border-radius:2px}
        .meter.high>span{background:var(--warn)}
        .meter.over>span{background:var(--bad)}
        .meter.time>span{background:var(--c0)}
        .plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:18px}
        figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px}
        figure.wide{margin:6px 0}
        figure.wide svg{min-width:700px}
        figcaption{color:var(--muted);font-size:.84rem;margin-top:6px}
        .legend{list-style:none;margin:6px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:.84rem}
        .swatch{display:inline-block;width:14px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px;background:var(--c9)}
        .note{color:var(--muted);font-size:.88rem}
        ul.events{padding-left:20px;font-size:.9rem}
        footer{color:var(--muted);font-size:.8rem;padding-bottom:24px}
        svg{display:block;width:100%;height:auto;overflow:visible;margin:0 auto}
        svg text{fill:var(--fg);font-size:11px}
        svg .tick{fill:var(--muted)}
        svg .title{fill:var(--muted);font-size:12px}
        svg .empty{fill:var(--muted);font-size:13px;font-style:italic}
        svg .axis{stroke:var(--muted);stroke-width:1}
        svg .grid{stroke:var(--line);stroke-width:.7}
        svg .band{fill:var(--band)}
        svg .line{fill:none;stroke-width:2;stroke-linejoin:round}
        svg .ref{fill:none;stroke-width:1.3;opacity:.75}
        svg .dashed,.swatch.dashed{stroke-dasharray:6 4}
        svg .line.dotted{stroke-width:1.4;stroke-dasharray:1.5 3}
        svg .cell{fill:var(--heat)}
        svg .cell-text{font-size:11px}
        svg .cell-text.dark{fill:#fff}
        svg .bar-text{fill:#fff;font-size:10px;pointer-events:none}
        svg .stage-mark{stroke:var(--muted);stroke-dasharray:2 3}
        svg .mark-label{fill:var(--muted);font-size:10px}
        svg .tick-mark{stroke:#fff;opacity:.7}
        svg .dot.hollow{fill:var(--bg);stroke-width:2}
        .swatch.dot{width:10px;height:10px;border-radius:50%}
        svg .cross{stroke:var(--bad);stroke-width:2.4;fill:none}
        svg .stale{fill:var(--c1)}
        svg .worker-mark.lost{fill:var(--bad)}
        svg .worker-mark.left{fill:var(--muted)}
        svg .link{fill:none;stroke:var(--fg);stroke-width:1.4;stroke-dasharray:4 3}
        svg .arrow{fill:var(--fg)}
        .attempt .bar{stroke:var(--bg);stroke-width:.6}
        .k-extract .bar,.swatch.k-extract{fill:var(--k-extract);background:var(--k-extract)}
        .k-train .bar,.swatch.k-train{fill:var(--k-train);background:var(--k-train)}
        .k-evaluate .bar,.swatch.k-evaluate{fill:var(--k-evaluate);background:var(--k-evaluate)}
        .k-predict .bar,.swatch.k-predict{fill:var(--k-predict);background:var(--k-predict)}
        .o-failed .bar,.o-lost .bar{fill-opacity:.5;stroke:var(--bad);stroke-width:1.6}
        .o-abandoned .bar{fill-opacity:.3;stroke:var(--muted);stroke-dasharray:3 2}
        .o-running .bar{fill-opacity:.55;stroke:var(--fg);stroke-dasharray:4 3}
        .swatch.o-failed{background:transparent;border:2px solid var(--bad)}
        .swatch.o-abandoned{background:transparent;border:2px dashed var(--muted)}
        .swatch.o-running{background:transparent;border:2px dashed var(--fg)}
        .swatch.link-swatch{background:transparent;border-top:2px dashed var(--fg);height:0;border-radius:0}
        .s0{stroke:var(--c0)}.s1{stroke:var(--c1)}.s2{stroke:var(--c2)}.s3{stroke:var(--c3)}.s4{stroke:var(--c4)}
        .s5{stroke:var(--c5)}.s6{stroke:var(--c6)}.s7{stroke:var(--c7)}.s8{stroke:var(--c8)}.s9{stroke:var(--c9)}
        .f0{fill:var(--c0)}.f1{fill:var(--c1)}.f2{fill:var(--c2)}.f3{fill:var(--c3)}.f4{fill:var(--c4)}
        .f5{fill:var(--c5)}.f6{fill:var(--c6)}.f7{fill:var(--c7)}.f8{fill:var(--c8)}.f9{fill:var(--c9)}
        .swatch.s0{background:var(--c0)}.swatch.s1{background:var(--c1)}.swatch.s2{background:var(--c2)}.swatch.s3{background:var(--c3)}.swatch.s4{background:var(--c4)}
        .swatch.s5{background:var(--c5)}.swatch.s6{background:var(--c6)}.swatch.s7{background:var(--c7)}.swatch.s8{background:var(--c8)}.swatch.s9{background:var(--c9)}
        .swatch.dashed{height:0;border-top:2px dashed var(--c9);background:transparent!important;border-radius:0}
        .swatch.dotted{height:0;border-top:2px dotted;background:transparent!important;border-radius:0}
        .swatch.dotted.s0{border-color:var(--c0)}.swatch.dotted.s1{border-color:var(--c1)}.swatch.dotted.s2{border-color:var(--c2)}.swatch.dotted.s3{border-color:var(--c3)}
        @media (max-width:700px){header,main,footer{padding:0 12px}.plots{grid-template-columns:1fr}.facts{grid-template-columns:1fr}.facts dt{margin-top:6px}
        body{font-size:14px}.plots svg text{font-size:13px}.plots svg .title{font-size:14px}}
        @media print{nav{display:none}body{font-size:11pt}section{break-inside:avoid-page}figure{break-inside:avoid}
        .scroll{overflow:visible}figure.wide svg{min-width:0}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
        """
}
