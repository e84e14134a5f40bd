// memreport pages: zoom, search and details for flame graphs, read-outs for charts, sorting for
// tables. Everything is drawn already; this script only adds interaction, reads nothing from the
// network and defines no globals.
"use strict";
(function () {
  // Binary units, three significant digits, as the rest of memreport prints sizes.
  function humanSize(bytes) {
    var units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if (bytes < 1024) return bytes + " B";
    var value = bytes / 1024, unit = 0;
    while (value >= 1024 && unit + 1 < units.length) { value /= 1024; unit++; }
    var digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
    return value.toFixed(digits) + " " + units[unit];
  }

  // ---- Flame graphs -------------------------------------------------------------------------
  // Each frame is <g data-x data-w data-d> (start, width and depth in the graph's units) around
  // <title>, <rect> and <text>. Zooming to a frame shows its subtree across the full width and
  // its ancestors as full-width bars; everything else is hidden. A section may hold several
  // views of one graph (inverted, every frame), each drawn already; the radio buttons show one,
  // and the search box and the reset button act on the one shown.
  function setUpGraph(svg, details) {
    var total = Number(svg.getAttribute("data-total"));
    var scale = Number(svg.getAttribute("data-scale")) || 1;
    var frames = Array.prototype.map.call(svg.querySelectorAll("g[data-w]"), function (g) {
      var title = g.querySelector("title").textContent;
      return {
        g: g,
        x: Number(g.getAttribute("data-x")),
        w: Number(g.getAttribute("data-w")),
        d: Number(g.getAttribute("data-d")),
        rect: g.querySelector("rect"),
        text: g.querySelector("text"),
        name: title.split("\n")[0],
        title: title
      };
    });
    var byGroup = new Map(frames.map(function (f) { return [f.g, f]; }));
    var view = { x: 0, w: total, d: 0 };
    var charWidth = 0;
    var graph = { zoomed: false };

    function measureChar() {
      var sample = frames.length ? frames[0].text : null;
      if (!sample) return 7.2;
      var canvas = document.createElement("canvas").getContext("2d");
      canvas.font = window.getComputedStyle(sample).font;
      return canvas.measureText("mmmmmmmmmm").width / 10 || 7.2;
    }

    // Each label shows as much of the name as fits its frame, as inferno does when it draws,
    // and the frame's bytes after it when both fit (the root's name has its bytes already).
    function fitText() {
      var width = svg.getBoundingClientRect().width;
      if (!width) return;
      if (!charWidth) charWidth = measureChar();
      frames.forEach(function (f) {
        if (f.g.classList.contains("hidden")) return;
        var px = (f.d < view.d ? 1 : f.w / view.w) * width;
        var fits = Math.floor((px - 6) / charWidth);
        var name = f.name;
        var suffix = f.d === 0 ? "" : " · " + humanSize(f.w * scale);
        var text;
        if (fits < 3) text = "";
        else if (name.length + suffix.length <= fits) text = name + suffix;
        // A wide frame keeps its bytes and cuts its name; a narrow one gives the name the room.
        else if (suffix && fits >= suffix.length + 12) text = name.slice(0, fits - suffix.length - 2) + ".." + suffix;
        else text = name.length <= fits ? name : name.slice(0, fits - 2) + "..";
        f.text.textContent = text;
      });
    }

    // As tall as the deepest frame wide enough to see, so slivers do not add blank rows.
    function fitHeight() {
      var width = svg.getBoundingClientRect().width || 1200;
      var deepest = 0;
      frames.forEach(function (f) {
        if (f.g.classList.contains("hidden")) return;
        var px = (f.d < view.d ? 1 : f.w / view.w) * width;
        if (px >= 0.5 && f.d > deepest) deepest = f.d;
      });
      svg.setAttribute("height", (deepest + 1) * 16);
    }

    function place(f, x, w) {
      var pad = 300 / (svg.getBoundingClientRect().width || 1200);
      f.rect.setAttribute("x", x + "%");
      f.rect.setAttribute("width", w + "%");
      f.text.setAttribute("x", (x + pad) + "%");
    }

    function zoom(target) {
      view = { x: target.x, w: target.w || 1, d: target.d };
      frames.forEach(function (f) {
        var inside = f.d >= target.d && f.x >= target.x && f.x + f.w <= target.x + target.w;
        var ancestor = f.d < target.d && f.x <= target.x && f.x + f.w >= target.x + target.w;
        f.g.classList.toggle("hidden", !inside && !ancestor);
        f.g.classList.toggle("ancestor", ancestor);
        if (inside) place(f, (f.x - target.x) / view.w * 100, f.w / view.w * 100);
        else if (ancestor) place(f, 0, 100);
      });
      graph.zoomed = target.d !== 0;
      graph.target = target;
      svg.classList.toggle("zoomed", graph.zoomed);
      fitHeight();
      fitText();
      if (graph.onZoom) graph.onZoom();
    }

    svg.addEventListener("click", function (event) {
      var g = event.target.closest("g[data-w]");
      if (g) zoom(byGroup.get(g));
    });
    svg.addEventListener("mouseover", function (event) {
      var g = event.target.closest("g[data-w]");
      if (g) details.textContent = byGroup.get(g).title.split("\n").join(" · ");
    });
    svg.addEventListener("mouseleave", function () { details.innerHTML = "&nbsp;"; });

    // The share matched is the union of matching frames' spans, so that a match nested in
    // another match is not counted twice.
    graph.search = function (pattern) {
      var spans = [];
      frames.forEach(function (f) {
        var hit = pattern !== null && f.d > 0 && pattern.test(f.name);
        f.g.classList.toggle("match", hit);
        if (hit) spans.push([f.x, f.x + f.w]);
      });
      if (!pattern) return "";
      spans.sort(function (a, b) { return a[0] - b[0]; });
      var covered = 0, end = -1;
      spans.forEach(function (s) {
        if (s[0] >= end) { covered += s[1] - s[0]; end = s[1]; }
        else if (s[1] > end) { covered += s[1] - end; end = s[1]; }
      });
      return spans.length === 0 ? "no match" :
        "matched " + (covered / total * 100).toFixed(2) + "% (" + humanSize(covered * scale) + ")";
    };
    graph.reset = function () { if (frames.length) zoom(frames[0]); };
    // The first level under the root (the threads of a graph split by thread), largest first.
    graph.tops = function () {
      return frames.filter(function (f) { return f.d === 1; })
        .sort(function (a, b) { return b.w - a.w || a.x - b.x; })
        .map(function (f) { return { x: f.x, w: f.w, name: f.name, bytes: f.w * scale }; });
    };
    graph.zoomAt = function (x) {
      var f = frames.filter(function (f) { return f.d === 1 && f.x === x; })[0];
      if (f) zoom(f);
    };
    graph.fit = function () { fitHeight(); fitText(); };
    return graph;
  }

  function setUpFlame(section) {
    var search = section.querySelector(".fg-search");
    var reset = section.querySelector(".fg-reset");
    var matched = section.querySelector(".fg-matched");
    var details = section.querySelector(".fg-details");
    var views = Array.prototype.filter.call(section.querySelectorAll(".fg-view"), function (v) {
      return v.querySelector("svg.fg");
    }).map(function (v) {
      return { box: v, graph: setUpGraph(v.querySelector("svg.fg"), details) };
    });
    if (!views.length) return;
    var active = views[0];

    function pattern() {
      var term = search.value.trim();
      if (!term) return null;
      try { return new RegExp(term, "i"); }
      catch (e) { return new RegExp(term.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "i"); }
    }
    function runSearch() { matched.textContent = active.graph.search(pattern()); }
    views.forEach(function (v) {
      v.graph.onZoom = function () { if (v === active) reset.disabled = !v.graph.zoomed; };
    });

    var radios = section.querySelectorAll(".fg-variants input");
    function show(key) {
      Array.prototype.forEach.call(radios, function (r) { r.checked = r.value === key; });
      views.forEach(function (v) {
        v.box.hidden = v.box.getAttribute("data-view") !== key;
        if (!v.box.hidden) active = v;
      });
      reset.disabled = !active.graph.zoomed;
      active.graph.fit();
      runSearch();
    }
    Array.prototype.forEach.call(radios, function (radio) {
      radio.addEventListener("change", function () { show(radio.value); });
    });

    // The thread menu lists the first level of the graph by thread (threads, and groups of
    // threads named alike) and zooms into the one chosen; zooming by clicking keeps it in step.
    var menu = section.querySelector(".fg-threads");
    var byThread = views.filter(function (v) {
      return v.box.getAttribute("data-view") === "threads";
    })[0];
    if (menu && byThread) {
      var tops = byThread.graph.tops();
      tops.forEach(function (t) {
        var option = document.createElement("option");
        option.value = String(t.x);
        option.textContent = t.name.replace(/^thread /, "") + " · " + humanSize(t.bytes);
        menu.appendChild(option);
      });
      menu.addEventListener("change", function () {
        show("threads");
        if (menu.value === "") byThread.graph.reset();
        else byThread.graph.zoomAt(Number(menu.value));
      });
      var onZoom = byThread.graph.onZoom;
      byThread.graph.onZoom = function () {
        onZoom();
        var t = byThread.graph.target;
        var top = t && t.d > 0 && tops.filter(function (f) {
          return f.x <= t.x && t.x < f.x + f.w;
        })[0];
        menu.value = top ? String(top.x) : "";
      };
    }
    search.addEventListener("input", runSearch);
    reset.addEventListener("click", function () { active.graph.reset(); });
    window.addEventListener("resize", function () { active.graph.fit(); });
    views.forEach(function (v) { v.graph.fit(); });
  }

  // ---- Charts -------------------------------------------------------------------------------
  // A read-out of every line's value at the time under the pointer.
  function setUpChart(svg) {
    var data = svg.nextElementSibling;
    var readout = svg.parentElement.querySelector(".readout");
    if (!data || !data.classList.contains("chart-data") || !readout) return;
    var points = JSON.parse(data.textContent);
    var times = points.t;
    if (!times.length) return;
    var left = Number(svg.getAttribute("data-left"));
    var width = Number(svg.getAttribute("data-width"));
    var end = Number(svg.getAttribute("data-end"));
    var cursor = svg.querySelector(".cursor");
    var viewWidth = svg.viewBox.baseVal.width;
    svg.addEventListener("mousemove", function (event) {
      var box = svg.getBoundingClientRect();
      var x = (event.clientX - box.left) / box.width * viewWidth;
      var t = (x - left) / width * end;
      var lo = 0, hi = times.length - 1;
      while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (times[mid] < t) lo = mid + 1; else hi = mid;
      }
      if (lo > 0 && Math.abs(times[lo - 1] - t) < Math.abs(times[lo] - t)) lo--;
      var cx = left + times[lo] / end * width;
      cursor.setAttribute("x1", cx);
      cursor.setAttribute("x2", cx);
      cursor.setAttribute("visibility", "visible");
      readout.textContent = times[lo].toFixed(3) + " s: " + points.series.map(function (s) {
        return s.label + " " + humanSize(s.values[lo]);
      }).join(" · ");
    });
    svg.addEventListener("mouseleave", function () {
      cursor.setAttribute("visibility", "hidden");
      readout.textContent = "";
    });
  }

  // Hovering a legend row brings its line forward and dims the others.
  function setUpLegend(table) {
    var figure = table.previousElementSibling;
    var svg = figure ? figure.querySelector("svg.chart") : null;
    if (!svg) return;
    Array.prototype.forEach.call(table.querySelectorAll("tr[data-series]"), function (row) {
      var line = svg.querySelector(".line.s" + row.getAttribute("data-series"));
      if (!line) return;
      row.addEventListener("mouseenter", function () {
        svg.classList.add("focusing");
        line.classList.add("focus");
      });
      row.addEventListener("mouseleave", function () {
        svg.classList.remove("focusing");
        line.classList.remove("focus");
      });
    });
  }

  // ---- Tables -------------------------------------------------------------------------------
  // Click a header to sort by it; click again to reverse. Numbers sort by their exact value.
  function setUpTable(table) {
    var headers = Array.prototype.slice.call(table.querySelectorAll("thead th"));
    var body = table.tBodies[0];
    headers.forEach(function (th, column) {
      th.tabIndex = 0;
      function sort() {
        var descending = th.getAttribute("aria-sort") !== "descending";
        var numeric = th.getAttribute("data-sort") === "num";
        if (th.getAttribute("data-sort") === "text" && !th.hasAttribute("aria-sort")) descending = false;
        var rows = Array.prototype.slice.call(body.rows);
        function key(row) {
          var cell = row.cells[column];
          return numeric ? Number(cell.getAttribute("data-v")) : cell.textContent.trim();
        }
        rows.sort(function (a, b) {
          var ka = key(a), kb = key(b);
          var c = numeric ? ka - kb : ka.localeCompare(kb);
          return descending ? -c : c;
        });
        rows.forEach(function (row) { body.appendChild(row); });
        headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  }

  document.querySelectorAll("section.flame").forEach(setUpFlame);
  document.querySelectorAll("svg.chart").forEach(setUpChart);
  document.querySelectorAll("table.sortable").forEach(setUpTable);
  document.querySelectorAll("table.legend").forEach(setUpLegend);
})();
