"use strict";
(function () {
  // Review marks: kept in this browser's localStorage under one key for the whole preview
  // (all its pages), exported as reference,neighbour,match,relation CSV for data.groups.
  var csvField = window.SIMILAR_CSV_FIELD;
  var key = "similar-images-marks:" + document.getElementById("review").dataset.storageKey;
  var marks = {};
  try { marks = JSON.parse(localStorage.getItem(key) || "{}") || {}; } catch (e) { marks = {}; }
  Object.keys(marks).forEach(function (k) {  // marks of earlier previews judged copies only
    var pair = JSON.parse(k);
    if (pair.length === 2) { marks[JSON.stringify([pair[0], pair[1], "copy"])] = marks[k]; delete marks[k]; }
  });
  var figures = Array.prototype.slice.call(document.querySelectorAll("figure[data-neighbour]"));
  function pairOf(fig) {
    return [fig.dataset.reference, fig.dataset.neighbour, fig.dataset.relation || "copy"];
  }
  function idOf(fig) { return JSON.stringify(pairOf(fig)); }
  function show(fig) {
    var value = marks[idOf(fig)];
    if (value === undefined) { fig.removeAttribute("data-mark"); } else { fig.dataset.mark = value; }
    fig.querySelectorAll(".mark").forEach(function (b) {
      b.setAttribute("aria-pressed", String(value !== undefined && b.dataset.value === String(value)));
    });
  }
  function count() { document.getElementById("marked").textContent = Object.keys(marks).length; }
  function save() {
    try { localStorage.setItem(key, JSON.stringify(marks)); } catch (e) { /* storage full or off */ }
    count();
  }
  function mark(fig, value) {
    if (value === null || marks[idOf(fig)] === value) { delete marks[idOf(fig)]; } else { marks[idOf(fig)] = value; }
    show(fig); save();
  }
  function exportCsv() {
    var rows = ["reference,neighbour,match,relation"];
    Object.keys(marks).sort().forEach(function (k) {
      var pair = JSON.parse(k);
      rows.push(csvField(pair[0]) + "," + csvField(pair[1]) + "," + marks[k] + "," + pair[2]);
    });
    var link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([rows.join("\n") + "\n"], {type: "text/csv"}));
    link.download = "review-marks.csv";
    document.body.appendChild(link); link.click(); link.remove();
  }
  figures.forEach(function (fig) {
    show(fig);
    fig.querySelectorAll(".mark").forEach(function (b) {
      b.addEventListener("click", function () { mark(fig, Number(b.dataset.value)); fig.focus(); });
    });
  });
  count();
  document.getElementById("export").addEventListener("click", exportCsv);
  var current = -1;
  function visibleFigures() { return figures.filter(function (f) { return f.offsetParent !== null; }); }
  function focusAt(step) {
    var list = visibleFigures();
    if (!list.length) { return; }
    var at = list.indexOf(figures[current]);
    var fig = list[Math.max(0, Math.min(list.length - 1, at < 0 ? 0 : at + step))];
    current = figures.indexOf(fig);
    fig.focus(); fig.scrollIntoView({block: "nearest"});
  }

  // The evidence of a pair: both pictures side by side, the matched points joined by lines,
  // the region they cover outlined in each picture, and the pair's own figures (positions are
  // shares of each image's width and height).
  function withScript(src, name, then) {  // a script of data, loaded on first use
    if (window[name] || !src) { then(window[name] || {}); return; }
    var script = document.createElement("script");
    script.src = src;
    script.onload = function () { then(window[name] || {}); };
    document.head.appendChild(script);
  }
  function withEvidence(then) { withScript(document.body.dataset.evidence, "SIMILAR_EVIDENCE", then); }
  var view = document.getElementById("matchview");
  var left = document.getElementById("mv-left"), right = document.getElementById("mv-right");
  var svg = document.getElementById("mv-lines");
  var SVG = "http://www.w3.org/2000/svg";
  function hull(points) {  // convex hull, monotone chain
    var p = points.slice().sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; });
    if (p.length < 3) { return p; }
    function cross(o, a, b) { return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]); }
    var lower = [], upper = [];
    p.forEach(function (q) {
      while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], q) <= 0) { lower.pop(); }
      lower.push(q);
    });
    p.slice().reverse().forEach(function (q) {
      while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], q) <= 0) { upper.pop(); }
      upper.push(q);
    });
    return lower.slice(0, -1).concat(upper.slice(0, -1));
  }
  function outline(points, img, box, cls) {
    var corners = hull(points);
    if (corners.length < 3) { return; }
    var r = img.getBoundingClientRect(), poly = document.createElementNS(SVG, "polygon");
    poly.setAttribute("points", corners.map(function (q) {
      return (r.left - box.left + q[0] * r.width) + "," + (r.top - box.top + q[1] * r.height);
    }).join(" "));
    poly.setAttribute("class", cls);
    svg.appendChild(poly);
  }
  function draw(points) {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var box = svg.getBoundingClientRect(), a = left.getBoundingClientRect(), b = right.getBoundingClientRect();
    outline(points.map(function (p) { return [p[0], p[1]]; }), left, box, "region left");
    outline(points.map(function (p) { return [p[2], p[3]]; }), right, box, "region right");
    points.forEach(function (p) {
      var line = document.createElementNS(SVG, "line");
      line.setAttribute("x1", a.left - box.left + p[0] * a.width);
      line.setAttribute("y1", a.top - box.top + p[1] * a.height);
      line.setAttribute("x2", b.left - box.left + p[2] * b.width);
      line.setAttribute("y2", b.top - box.top + p[3] * b.height);
      svg.appendChild(line);
    });
  }
  function shown(value) {
    if (typeof value === "number" && !Number.isInteger(value)) { return value.toFixed(2); }
    return String(value).replace(/_/g, " ");
  }
  function openEvidence(badge) { withEvidence(function (evidence) { showEvidence(evidence, badge); }); }
  function showEvidence(evidence, badge) {
    var pairs = evidence.pairs || {}, views = evidence.views || {};
    var a = badge.dataset.a, b = badge.dataset.b, found = (pairs[a] || {})[b];
    if (!found) { return; }
    var points = found.points || [], figs = found.figures || {};
    var pending = 2;
    function loaded() { pending -= 1; if (pending === 0) { draw(points); } }
    left.onload = right.onload = loaded;
    left.onerror = right.onerror = loaded;
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    left.src = views[a] || ""; right.src = views[b] || "";
    left.alt = a; right.alt = b;
    var what = figs.relation === "shares_part" ? "they share a part; the shared region is outlined in both" :
      "a copy" + (found.mirrored ? ", mirrored" : "") + "; the matched region is outlined in both";
    var piece = figs.part ? [figs.part, figs.part === a ? b : a] : null;
    if (piece) { what += "; " + piece[0] + " lies whole in " + piece[1] + ", a part of it"; }
    document.getElementById("mv-caption").textContent = "the pair " + a + "  \u2194  " + b + ": " + what +
      "; " + (points.length ? points.length + " of " + found.matched + " matched points shown" :
      "no matched points kept for this pair");
    var list = document.getElementById("mv-figures");
    list.textContent = "";
    Object.keys(figs).forEach(function (k, i) {
      var item = document.createElement("span");
      item.dataset.figure = k;
      var value = k === "part" ? (piece ? piece[0] : "neither") : shown(figs[k]);
      item.textContent = (i ? " \u00b7 " : "") + k.replace(/_/g, " ") + " " + value;
      list.appendChild(item);
    });
    view.classList.add("open");
  }
  function closeEvidence() { view.classList.remove("open"); }
  document.getElementById("mv-close").addEventListener("click", closeEvidence);
  view.addEventListener("click", function (ev) { if (ev.target === view) { closeEvidence(); } });
  document.querySelectorAll(".badge").forEach(function (badge) {
    badge.addEventListener("click", function () { openEvidence(badge); });
  });

  // A confirmed group: every member not marked otherwise is a copy; possible members and
  // shared parts are marked one by one only.
  function confirmGroup(section) {
    section.querySelectorAll('figure[data-kind="member"]').forEach(function (fig) {
      if (marks[idOf(fig)] === undefined) { marks[idOf(fig)] = 1; show(fig); }
    });
    save();
  }
  document.querySelectorAll("button.confirm").forEach(function (b) {
    b.addEventListener("click", function () { confirmGroup(b.closest("section")); });
  });

  // Find: an id or a book anywhere in the preview; its index loads on first use.
  var find = document.getElementById("find"), found = document.getElementById("found");
  function results() {
    var q = find.value.trim().toLowerCase(), items = window.SIMILAR_FIND;
    while (found.firstChild) { found.removeChild(found.firstChild); }
    if (!q || !items) { found.classList.remove("open"); return; }
    var hits = items.filter(function (it) {
      return it[0].toLowerCase().indexOf(q) >= 0 || it[1].toLowerCase().indexOf(q) >= 0;
    });
    hits.sort(function (x, y) { return (x[0].toLowerCase() !== q) - (y[0].toLowerCase() !== q); });
    hits.slice(0, 30).forEach(function (it) {
      [["group", it[3]], ["list", it[2]]].forEach(function (where) {
        if (!where[1]) { return; }
        var link = document.createElement("a");
        link.href = where[1];
        link.className = "hit";
        link.dataset.id = it[0];
        link.textContent = it[0] + (it[1] ? "  \u00b7 " + it[1] : "") + "  \u2192 " + where[0];
        found.appendChild(link);
      });
    });
    if (!hits.length) {
      var none = document.createElement("span");
      none.textContent = "nothing found"; found.appendChild(none);
    }
    if (hits.length > 30) {
      var more = document.createElement("span");
      more.textContent = (hits.length - 30) + " more: type more of the id"; found.appendChild(more);
    }
    found.classList.add("open");
  }
  find.addEventListener("input", function () {
    if (window.SIMILAR_FIND || document.getElementById("find-index")) { results(); return; }
    var script = document.createElement("script");
    script.id = "find-index"; script.src = "find.js"; script.onload = results;
    document.head.appendChild(script);
  });
  find.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { var first = found.querySelector("a"); if (first) { location.href = first.href; } }
    if (ev.key === "Escape") { find.value = ""; results(); find.blur(); }
    ev.stopPropagation();
  });

  // The overview: a cell's groups, each a link to its card.
  var pairsBox = document.getElementById("pairs");
  function showPair() {
    var at = location.hash.slice(1);
    if (!pairsBox || at.indexOf("pair-") !== 0) { return; }
    withScript(pairsBox.dataset.lists, "SIMILAR_PAIRS", function (lists) {
      var found = lists[at], list = document.getElementById("pairs-groups");
      if (!found) { return; }
      while (list.firstChild) { list.removeChild(list.firstChild); }
      document.getElementById("pairs-title").textContent = (found.x || "(no folder)") +
        (found.x === found.y ? "" : " \u00d7 " + (found.y || "(no folder)")) + ": " +
        found.groups.length + (found.groups.length === 1 ? " group" : " groups");
      found.groups.forEach(function (g, i) {
        var link = document.createElement("a");
        link.href = g[0]; link.className = "id"; link.textContent = g[1];
        if (i) { list.appendChild(document.createTextNode(", ")); }
        list.appendChild(link);
      });
      pairsBox.hidden = false; pairsBox.dataset.pair = at;
      pairsBox.scrollIntoView({block: "nearest"});
    });
  }
  window.addEventListener("hashchange", showPair);
  showPair();

  // The book filter: only the references, groups and pictures of one book (kept while
  // moving between pages).
  var books = document.getElementById("book"), BOOK = "similar-images-book";
  function filter(book) {
    if (document.body.dataset.view === "overview") { return; }
    document.querySelectorAll("main [data-book]").forEach(function (el) {
      if (el.tagName !== "SECTION") { el.classList.toggle("filtered", !!book && el.dataset.book !== book); }
    });
    document.querySelectorAll("main section").forEach(function (s) {
      var mine = !book || s.dataset.book === book || (s.dataset.books || "").split(" ").indexOf(book) >= 0 ||
        s.querySelector('[data-book="' + CSS.escape(book) + '"]') !== null;
      s.classList.toggle("filtered", !mine);
    });
  }
  try { books.value = sessionStorage.getItem(BOOK) || ""; } catch (e) { books.value = ""; }
  if (books.value) { filter(books.value); }
  books.addEventListener("change", function () {
    try { sessionStorage.setItem(BOOK, books.value); } catch (e) { /* storage off */ }
    filter(books.value);
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.target === books) { return; }
    if (view.classList.contains("open")) {
      if (ev.key === "Escape" || ev.key === "v") { closeEvidence(); ev.preventDefault(); }
      return;
    }
    var fig = figures[current], badge = fig && fig.querySelector(".badge");
    switch (ev.key) {
      case "v": if (badge) { openEvidence(badge); } break;
      case "c": if (fig) { confirmGroup(fig.closest("section")); } break;
      case "/": find.focus(); break;
      case "j": case "ArrowRight": case "ArrowDown": focusAt(1); break;
      case "k": case "ArrowLeft": case "ArrowUp": focusAt(-1); break;
      case "m": case "y": if (fig) { mark(fig, 1); focusAt(1); } break;
      case "n": case "x": if (fig) { mark(fig, 0); focusAt(1); } break;
      case "u": if (fig) { mark(fig, null); } break;
      case "e": exportCsv(); break;
      default: return;
    }
    ev.preventDefault();
  });
  figures.forEach(function (fig, i) { fig.addEventListener("focus", function () { current = i; }); });
}());
