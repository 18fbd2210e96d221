// The advq report's script: draws every chart from the embedded data with plotly.js, and
// runs the detail panel, the paged gallery and the .npy export. Nothing is fetched.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("advq-data").textContent);
  const ex = data.examples;
  const classes = data.classes;
  const PAGE_SIZE = 24;
  const RANK = "problem_rank";
  const CONFIG = { responsive: true, displaylogo: false };
  const state = { selected: [], selectionRange: null, detailRow: null, gallery: { page: 0, rows: [] } };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child instanceof Node ? child : String(child));
    return node;
  }

  function number(value, digits = 3, sign = false) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    const text = Number.isInteger(value) && !sign ? String(value) : Number(value).toFixed(digits);
    return sign && value > 0 ? "+" + text : text;
  }

  function table(header, rows) {
    return el("table", {}, el("thead", {}, el("tr", {}, ...header.map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows.map((row) => el("tr", {}, ...row.map((cell) => el("td", {}, cell))))));
  }

  function measureOf(name, row) {
    return ex.measures[name][row];
  }

  // -- summary ------------------------------------------------------------------------------

  function drawSummary() {
    const s = data.summary;
    const threat = s.threat || {};
    const agreement = data.agreement;
    const rows = [
      ["profile", s.profile], ["dataset", s.dataset], ["training examples (N)", s.n_train],
      ["examples ranked", s.n_ranked], ["complete runs", `${s.runs.length}: ${s.runs.join(", ")}`],
      ["method", s.method ?? "–"], ["model", s.model ?? "–"],
      ["threat", `${threat.norm ?? "linf"} ε = ${number(threat.eps, 4)}, ${threat.steps ?? "?"} steps of ${number(threat.step_size, 4)}`],
      ["epochs", s.epochs ?? "–"],
    ];
    const body = document.getElementById("summary-body");
    body.append(table(["", ""], rows));
    const n = agreement.labels.length;
    if (n < 2) {
      body.append(el("p", {}, "One complete run: no run-to-run agreement to measure (profile with --repeats 2 or more)."));
      return;
    }
    body.append(el("p", {}, "Spearman's ρ of the problem rank between every two runs:"));
    body.append(table(["", ...agreement.labels],
      agreement.labels.map((label, i) => [label, ...agreement.matrix[i].map((v) => number(v))])));
    const growth = agreement.growth;
    body.append(el("p", {}, "How run-to-run agreement grows with the runs averaged: ρ between the mean ranks of two " +
      "disjoint groups of k runs (mean over draws). Where it levels off, more runs add little."));
    body.append(table(["runs averaged per group (k)", "Spearman ρ", "draws"],
      growth.runs.map((k, i) => [k, number(growth.rho[i]), growth.draws[i]])));
    Plotly.newPlot("agreement-plot", [{
      x: growth.runs, y: growth.rho, mode: "lines+markers", type: "scatter", name: "ρ between two k-run means",
    }], {
      title: { text: "Agreement of two independent k-run estimates of the problem rank" },
      xaxis: { title: { text: "runs averaged per estimate (k)" }, dtick: 1 },
      yaxis: { title: { text: "Spearman ρ" }, range: [Math.min(0, ...growth.rho.filter(Number.isFinite)) - 0.05, 1.02] },
      margin: { t: 50 },
    }, CONFIG);
  }

  // -- detail panel ---------------------------------------------------------------------------

  function picture(src, caption) {
    return el("figure", {}, el("img", { class: "pixels", src: src, alt: caption }), el("figcaption", {}, caption));
  }

  function strip(row) {
    const runs = ex.runs;
    const cells = [...ex.epochs[row]].map((c, epoch) => {
      if (c === ".") return el("span", { style: "background:#ddd", title: `epoch ${epoch + 1}: not trained` });
      const right = parseInt(c, 36);
      const share = runs ? right / runs : 0;
      const colour = `hsl(${Math.round(share * 120)}, 70%, 45%)`;
      return el("span", { style: `background:${colour}`, title: `epoch ${epoch + 1}: right in ${right} of ${runs} run(s)` });
    });
    return el("div", { class: "strip", "data-epochs": ex.epochs[row].length }, ...cells);
  }

  function showDetail(row) {
    state.detailRow = row;
    const label = classes[ex.label[row]];
    const panel = document.getElementById("detail");
    panel.replaceChildren(el("h2", {}, `Example #${ex.index[row]}`));
    const pair = el("div", { class: "pair" }, picture(ex.image[row], "clean"));
    if (ex.adversarial && ex.adversarial[row]) {
      pair.append(picture(ex.adversarial[row], "adversarial"));
    }
    panel.append(pair);
    panel.append(el("p", {}, el("b", {}, "label: "), label));
    if (ex.pred_clean && ex.pred_clean[row] >= 0) {
      panel.append(el("p", {}, `predicted: ${classes[ex.pred_clean[row]]} (clean), ` +
        `${classes[ex.pred_adversarial[row]]} (adversarial)`));
    }
    panel.append(table(["measure", "value"], data.measures.map((name) => [name, number(measureOf(name, row), 4)])));
    panel.append(el("p", {}, "Right under the training attack, epoch by epoch (green: every run, red: none):"));
    panel.append(strip(row));
  }

  // -- data map -----------------------------------------------------------------------------

  function drawMap() {
    const map = data.map;
    const rows = map.rows;
    const shown = rows.length === map.drawable ? `all ${rows.length} examples`
      : `a seeded sample of ${rows.length} of ${map.drawable} examples (--max-points ${map.max_points}, --seed ${map.seed})`;
    document.getElementById("map-note").textContent =
      `Each point is a training example: ${map.y} against ${map.x} of its true-class probability under the ` +
      `training attack over the epochs, coloured by problem rank (blue 0 = highest quality, red 1 = lowest). Showing ${shown}. ` +
      "Hover or click a point to see it; box or lasso select to export indices.";
    const trace = {
      type: "scatter", mode: "markers",
      x: rows.map((r) => measureOf(map.x, r)), y: rows.map((r) => measureOf(map.y, r)),
      customdata: rows,
      text: rows.map((r) => `#${ex.index[r]} · ${classes[ex.label[r]]}`),
      hovertemplate: "%{text}<br>rank %{marker.color:.3f}<extra></extra>",
      marker: {
        size: 6, opacity: 0.75, color: rows.map((r) => measureOf(RANK, r)), cmin: 0, cmax: 1,
        colorscale: "Bluered", colorbar: { title: { text: "problem rank" } },
      },
    };
    const plot = document.getElementById("map-plot");
    Plotly.newPlot(plot, [trace], {
      xaxis: { title: { text: map.x } }, yaxis: { title: { text: map.y } }, hovermode: "closest",
      dragmode: "zoom", margin: { t: 20 },
    }, CONFIG);
    plot.on("plotly_hover", (event) => showDetail(event.points[0].customdata));
    plot.on("plotly_click", (event) => showDetail(event.points[0].customdata));
    plot.on("plotly_selected", (event) => select(event));
    plot.on("plotly_deselect", () => select(null));
    document.getElementById("download-selection").addEventListener("click", downloadSelection);
  }

  function select(event) {
    const points = event && event.points ? event.points : [];
    state.selected = [...new Set(points.map((p) => ex.index[p.customdata]))].sort((a, b) => a - b);
    state.selectionRange = event ? (event.range || event.lassoPoints || null) : null;
    const button = document.getElementById("download-selection");
    button.disabled = state.selected.length === 0;
    button.textContent = state.selected.length
      ? `Download the ${state.selected.length} selected indices (.npy)`
      : "Select points (box or lasso) to export their indices";
    document.getElementById("selection-note").textContent = state.selected.length
      ? "int64 indices in the dataset's canonical training order, which advq train --subset FILE.npy reads." : "";
  }

  function npy(indices) {
    // NumPy's format 1.0: magic, header length, a Python-literal header padded to 64 bytes, the data.
    let header = `{'descr': '<i8', 'fortran_order': False, 'shape': (${indices.length},), }`;
    header += " ".repeat((64 - ((10 + header.length + 1) % 64)) % 64) + "\n";
    const buffer = new ArrayBuffer(10 + header.length + 8 * indices.length);
    const bytes = new Uint8Array(buffer);
    bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const view = new DataView(buffer);
    view.setUint16(8, header.length, true);
    for (let i = 0; i < header.length; i++) bytes[10 + i] = header.charCodeAt(i);
    indices.forEach((value, k) => view.setBigInt64(10 + header.length + 8 * k, BigInt(value), true));
    return new Blob([buffer], { type: "application/octet-stream" });
  }

  function downloadSelection() {
    const url = URL.createObjectURL(npy(state.selected));
    const stem = data.summary.profile.replace(/\.[^.]*$/, "");
    const link = el("a", { href: url, download: `${stem}-selected-${state.selected.length}.npy` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // -- per class ------------------------------------------------------------------------------

  function drawClasses() {
    const spread = data.per_class.spread;
    Plotly.newPlot("class-plot", [{
      type: "box", x: classes, q1: spread.q1, median: spread.median, q3: spread.q3,
      lowerfence: spread.low, upperfence: spread.high, name: "problem rank",
      hovertemplate: "%{x}<extra></extra>",
    }], {
      title: { text: "Problem rank per class over all its ranked examples (box: quartiles; whiskers: 5th–95th percentile)" },
      xaxis: { type: "category", title: { text: "class" } },
      yaxis: { title: { text: "problem rank (1 = lowest quality)" }, range: [0, 1] }, margin: { t: 50 },
    }, CONFIG);

    const classChoice = el("select", { id: "gallery-class" },
      ...classes.map((name, c) => el("option", { value: c }, `${name} (${spread.count[c]})`)));
    const measureChoice = el("select", { id: "gallery-measure" },
      ...data.measures.map((name) => el("option", { value: name }, name)));
    const orderChoice = el("select", { id: "gallery-order" },
      el("option", { value: "desc" }, "highest first"), el("option", { value: "asc" }, "lowest first"));
    const controls = document.getElementById("gallery-controls");
    controls.append(el("label", {}, "Class ", classChoice), el("label", {}, "Sort by ", measureChoice),
      el("label", {}, "Order ", orderChoice));
    for (const choice of [classChoice, measureChoice, orderChoice]) {
      choice.addEventListener("change", () => { state.gallery.page = 0; fillGallery(); });
    }
    document.getElementById("page-previous").addEventListener("click", () => turn(-1));
    document.getElementById("page-next").addEventListener("click", () => turn(+1));
    fillGallery();
  }

  function turn(step) {
    const pages = Math.max(1, Math.ceil(state.gallery.rows.length / PAGE_SIZE));
    state.gallery.page = Math.min(pages - 1, Math.max(0, state.gallery.page + step));
    drawPage();
  }

  function fillGallery() {
    const c = Number(document.getElementById("gallery-class").value);
    const name = document.getElementById("gallery-measure").value;
    const sign = document.getElementById("gallery-order").value === "asc" ? 1 : -1;
    const rows = [];
    ex.label.forEach((label, row) => { if (label === c) rows.push(row); });
    const key = (row) => measureOf(name, row);
    rows.sort((a, b) => {
      const va = key(a), vb = key(b);
      if (va === null || vb === null) return (va === null) - (vb === null) || a - b;
      return sign * (va - vb) || a - b;
    });
    state.gallery.rows = rows;
    const ranked = data.per_class.spread.count[c];
    const held = rows.length >= ranked ? `all ${rows.length} of its ranked examples`
      : `${rows.length} of its ${ranked} ranked examples: the data map's sample and the ` +
        `${data.per_class.size} lowest- and ${data.per_class.size} highest-quality`;
    const attack = ex.attack ? ` Adversarial counterparts of the lowest- and highest-quality: ${ex.attack.text}, ` +
      `checkpoint ${ex.attack.checkpoint}.` : "";
    document.getElementById("gallery-note").textContent =
      `${classes[c]}: the report holds ${held}. Sorted by ${name}, ${sign < 0 ? "highest" : "lowest"} first.${attack}`;
    drawPage();
  }

  function card(row) {
    const name = document.getElementById("gallery-measure").value;
    const images = el("div", { class: "pair" }, el("img", { class: "pixels", src: ex.image[row], alt: `#${ex.index[row]}` }));
    if (ex.adversarial && ex.adversarial[row]) {
      images.append(el("img", { class: "pixels", src: ex.adversarial[row], alt: `#${ex.index[row]} adversarial` }));
    }
    const lines = [el("div", {}, `#${ex.index[row]} · rank ${number(measureOf(RANK, row))}`)];
    if (name !== RANK) lines.push(el("div", {}, `${name} ${number(measureOf(name, row), 3)}`));
    if (ex.pred_clean && ex.pred_clean[row] >= 0) {
      const wrong = ex.pred_adversarial[row] !== ex.label[row];
      lines.push(el("div", { class: wrong ? "wrong" : "" }, `adversarial → ${classes[ex.pred_adversarial[row]]}`));
    }
    return el("div", {
      class: "card", "data-index": ex.index[row], onmouseenter: () => showDetail(row), onclick: () => showDetail(row),
    }, images, ...lines);
  }

  function drawPage() {
    const { rows, page } = state.gallery;
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    const shown = rows.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    document.getElementById("gallery").replaceChildren(...shown.map(card));
    document.getElementById("page-label").textContent = `page ${page + 1} of ${pages}`;
    document.getElementById("page-previous").disabled = page === 0;
    document.getElementById("page-next").disabled = page >= pages - 1;
  }

  // -- measures -------------------------------------------------------------------------------

  function drawMeasures() {
    const results = data.correlations;
    document.getElementById("measures-table").append(table(["measure", "Spearman ρ with the problem rank", "examples"],
      results.map((r) => [r.name, number(r.rho, 3, true), r.n])));
    const choice = document.getElementById("measure-choice");
    results.forEach((r, k) => choice.append(el("option", { value: k }, r.name)));
    choice.addEventListener("change", () => drawMeasure(results[Number(choice.value)]));
    if (results.length) drawMeasure(results[0]);
  }

  function drawMeasure(r) {
    const filled = r.count.map((n) => n > 0);
    const pick = (values) => values.filter((_, k) => filled[k]);
    const mean = pick(r.mean);
    const low = mean.map((m, k) => Math.max(m - pick(r.std)[k], r.range[0]));
    const high = mean.map((m, k) => Math.min(m + pick(r.std)[k], r.range[1]));
    Plotly.newPlot("measure-plot", [
      { type: "scatter", mode: "markers", x: r.rank, y: r.value, name: `examples (${r.rank.length} of ${r.n} shown)`,
        marker: { size: 4, opacity: 0.3, color: "#ff7f0e" }, hoverinfo: "skip" },
      { type: "scatter", mode: "lines+markers", x: pick(r.centers), y: mean, name: "mean per rank bin ± std",
        line: { color: "#1f77b4" },
        error_y: { type: "data", symmetric: false, array: high.map((h, k) => h - mean[k]),
          arrayminus: mean.map((m, k) => m - low[k]) } },
    ], {
      title: { text: `${r.name} against the problem rank: Spearman ρ = ${number(r.rho, 3, true)} (${r.n} examples)` },
      xaxis: { title: { text: "problem rank (0 = most stable = highest quality)" }, range: [-0.02, 1.02] },
      yaxis: { title: { text: r.name } }, margin: { t: 50 }, legend: { orientation: "h", y: -0.2 },
    }, CONFIG);
  }

  // -- subsets and evaluations --------------------------------------------------------------------

  function drawTables() {
    const subsets = data.subsets;
    document.getElementById("subsets-table").append(subsets.length
      ? table(["subset", "examples", "rule", "mean problem rank"],
        subsets.map((s) => [s.name, s.size, s.rule, number(s.mean_rank)]))
      : el("p", {}, "No /subsets stored in this profile (advq curate PROFILE.h5 … stores them)."));
    const evaluations = data.evaluations;
    if (!evaluations.length) {
      document.getElementById("evaluations-table").append(
        el("p", {}, "No evaluation given (advq explain report … --evaluation E.h5 adds `advq evaluate` results)."));
      return;
    }
    const attacks = [...new Set(evaluations.flatMap((e) => Object.keys(e.attacks)))];
    document.getElementById("evaluations-table").append(table(
      ["evaluation", "trained on", "method", "ε", "test examples", "clean", ...attacks, "gap (PGD-10 − AutoAttack)"],
      evaluations.map((e) => [e.file, e.trained_on, e.method ?? "–", number(e.eps, 4), e.n_examples, number(e.clean),
        ...attacks.map((a) => number(e.attacks[a])), number(e.gap, 3, true)])));
  }

  drawSummary();
  drawMap();
  drawClasses();
  drawMeasures();
  drawTables();
  window.advqReport = { data, state, showDetail };
})();
