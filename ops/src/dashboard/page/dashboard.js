// totes-cdc pipeline dashboard: polls /api/health (1 s) and /api/business (2 s) and renders
// them (contract: ../DashboardModel.ts). Plain browser JavaScript, no build step; Chart.js 4
// comes from /vendor/chart.umd.min.js as the global `Chart`. Nothing is fetched from the network.
"use strict"
;(() => {
  const HEALTH_URL = "/api/health"
  const BUSINESS_URL = "/api/business"
  const HEALTH_EVERY_MS = 1000
  const BUSINESS_EVERY_MS = 2000
  const TOP_COUNTRIES_IN_CHART = 15
  const REVENUE_NOTE = "(mixed currencies, as in business_queries.sql)"

  // ---------- formatting ----------

  const fmt2 = new Intl.NumberFormat("en-GB", { minimumFractionDigits: 2, maximumFractionDigits: 2 })
  const fmt1 = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 1 })
  const fmt0 = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 0 })
  const isNum = (v) => typeof v === "number" && Number.isFinite(v)
  const money = (v) => (isNum(v) ? fmt2.format(v) : "—")
  const int = (v) => (isNum(v) ? fmt0.format(v) : "—")
  const dec1 = (v) => (isNum(v) ? fmt1.format(v) : "—")
  const pad2 = (n) => String(n).padStart(2, "0")
  /** HH:MM:SS (UTC, like the `dev` status line) of a ms-since-epoch time. */
  const hms = (ms) => {
    if (!isNum(ms)) return "—"
    const d = new Date(ms)
    return `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`
  }
  const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"]
  const bytes = (v) => {
    if (!isNum(v)) return "—"
    let value = v
    let unit = 0
    while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
      value /= 1024
      unit += 1
    }
    return unit === 0 ? `${fmt0.format(value)} B` : `${fmt1.format(value)} ${UNITS[unit]}`
  }
  const arr = (v) => (Array.isArray(v) ? v : [])

  // ---------- DOM helpers ----------

  const $ = (id) => document.getElementById(id)
  const el = (tag, props, children) => {
    const node = document.createElement(tag)
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null) continue
        if (k === "text") node.textContent = v
        else if (k === "className") node.className = v
        else if (k.startsWith("data-") || k === "title" || k === "role") node.setAttribute(k, String(v))
        else node[k] = v
      }
    }
    if (children) node.append(...children)
    return node
  }
  /** A `<td>` with a number: formatted text, the raw number (as received) in data-value. */
  const numCell = (value, format) =>
    el("td", { className: "num", "data-value": value === null || value === undefined ? "" : String(value), text: format(value) })

  const setTableRows = (tableId, rows) => {
    const table = $(tableId)
    if (!table) return
    table.tBodies[0].replaceChildren(...rows)
    table.parentElement.classList.toggle("is-empty", rows.length === 0)
  }

  // ---------- charts ----------

  const hasChart = typeof window.Chart === "function"
  const charts = {}
  const state = { charts, health: null, business: null }
  window.__dashboard = state

  const COLORS = {
    blue: "#2563eb",
    orange: "#ea580c",
    green: "#16a34a",
    purple: "#7c3aed",
    teal: "#0d9488",
    amber: "#d97706",
    red: "#dc2626",
    grey: "#9ca3af"
  }
  const alpha = (hex, a) => {
    const n = parseInt(hex.slice(1), 16)
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`
  }

  if (hasChart) {
    const Chart = window.Chart
    Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
    Chart.defaults.font.size = 12
    Chart.defaults.color = "#374151"
    Chart.defaults.borderColor = "#e5e7eb"
    Chart.defaults.animation = false
    Chart.defaults.maintainAspectRatio = false
    Chart.defaults.responsive = true
    Chart.defaults.plugins.legend.labels.boxWidth = 12
    Chart.defaults.plugins.legend.labels.boxHeight = 12
    // "no data" in the plot area while every dataset is empty (e.g. before the first sample).
    Chart.register({
      id: "totesNoData",
      afterDraw(chart) {
        const empty = chart.data.datasets.every((d) => !d.data || d.data.every((v) => v === null || v === undefined))
        if (!empty || !chart.chartArea) return
        const { left, right, top, bottom } = chart.chartArea
        const ctx = chart.ctx
        ctx.save()
        ctx.fillStyle = "#6b7280"
        ctx.font = `14px ${Chart.defaults.font.family}`
        ctx.textAlign = "center"
        ctx.textBaseline = "middle"
        ctx.fillText("no data", (left + right) / 2, (top + bottom) / 2)
        ctx.restore()
      }
    })
  }

  const makeChart = (id, config) => {
    if (!hasChart) return
    const canvas = $(id)
    if (!canvas) return
    charts[id] = new window.Chart(canvas, config)
  }

  /** A line chart over the health samples; a series with `right: true` gets its own right-hand axis. */
  const timeSeriesChart = (id, series, yFormat, tipFormat = yFormat) => {
    const hasRight = series.some((s) => s.right)
    const yAxis = (s) => ({
      beginAtZero: true,
      position: s?.right ? "right" : "left",
      ticks: { callback: (v) => yFormat(v), ...(hasRight ? { color: s.color } : {}) },
      ...(hasRight ? { title: { display: true, text: s.label, color: s.color } } : {}),
      ...(s?.right ? { grid: { drawOnChartArea: false } } : {})
    })
    const scales = { x: { ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 16 }, grid: { display: false } } }
    if (hasRight) {
      scales.y = yAxis(series.find((s) => !s.right))
      scales.y1 = yAxis(series.find((s) => s.right))
    } else scales.y = yAxis(null)
    makeChart(id, {
      type: "line",
      data: {
        labels: [],
        datasets: series.map((s) => ({
          label: s.label,
          data: [],
          yAxisID: s.right ? "y1" : "y",
          borderColor: s.color,
          backgroundColor: alpha(s.color, 0.12),
          borderWidth: 1.5,
          // No points on a line, but a dot for a value with no neighbour (it would draw nothing).
          pointRadius: (ctx) => {
            const d = ctx.dataset.data
            const i = ctx.dataIndex
            return d[i] != null && d[i - 1] == null && d[i + 1] == null ? 2.5 : 0
          },
          pointHoverRadius: 3,
          tension: 0,
          spanGaps: false,
          fill: false
        }))
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales,
        plugins: {
          legend: { position: "top", align: "end" },
          tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${ctx.raw === null ? "—" : tipFormat(ctx.raw)}` } }
        }
      }
    })
  }

  const barChart = (id, { horizontal = false, series, valueFormat, tipFormat = valueFormat, categoryTickLimit }) =>
    makeChart(id, {
      type: "bar",
      data: {
        labels: [],
        datasets: series.map((s) => ({
          label: s.label,
          data: [],
          backgroundColor: s.fill ?? alpha(s.color, 0.75),
          borderColor: s.color,
          borderWidth: 1,
          maxBarThickness: 28
        }))
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        scales: {
          [horizontal ? "x" : "y"]: { beginAtZero: true, ticks: { callback: (v) => valueFormat(v) } },
          [horizontal ? "y" : "x"]: {
            grid: { display: false },
            ticks: { autoSkip: false, ...(horizontal ? {} : { maxRotation: 50, minRotation: 0 }), ...(categoryTickLimit ?? {}) }
          }
        },
        plugins: {
          legend: { display: series.length > 1, position: "top", align: "end" },
          tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${tipFormat(horizontal ? ctx.parsed.x : ctx.parsed.y)}` } }
        }
      }
    })

  // Whole units only on the axes: fractional ticks of bytes, ms, s or counts mean nothing.
  const whole = (v) => isNum(v) && Number.isInteger(v)
  const compact = new Intl.NumberFormat("en-GB", { notation: "compact", maximumFractionDigits: 1 })
  const axisNum = (v) => (whole(v) ? compact.format(v) : "")
  const axisMs = (v) => (whole(v) ? `${fmt0.format(v)} ms` : "")
  const axisSeconds = (v) => (whole(v) ? `${fmt0.format(v)} s` : "")
  const axisBytes = (v) => (whole(v) ? bytes(v) : "")

  timeSeriesChart("chart-slot", [
    { label: "slot retained WAL", color: COLORS.purple },
    { label: "slot lag", color: COLORS.orange, right: true }
  ], axisBytes, (v) => `${bytes(v)} (${int(v)} bytes)`)
  timeSeriesChart("chart-throughput", [
    { label: "captured changes/s", color: COLORS.blue },
    { label: "loaded rows/s", color: COLORS.green }
  ], (v) => (isNum(v) ? fmt1.format(v) : ""))
  timeSeriesChart("chart-latency", [
    { label: "p50", color: COLORS.teal },
    { label: "p99", color: COLORS.red }
  ], axisMs, (v) => `${dec1(v)} ms`)
  barChart("chart-freshness", {
    horizontal: true,
    series: [{ label: "seconds since last commit", color: COLORS.teal, fill: [] }],
    valueFormat: axisSeconds,
    tipFormat: (v) => `${dec1(v)} s`
  })
  barChart("chart-revenue-by-country", {
    series: [{ label: `revenue ${REVENUE_NOTE}`, color: COLORS.blue }],
    valueFormat: axisNum,
    tipFormat: money
  })
  barChart("chart-top-staff", {
    horizontal: true,
    series: [{ label: `revenue ${REVENUE_NOTE}`, color: COLORS.purple }],
    valueFormat: axisNum,
    tipFormat: money
  })
  barChart("chart-top-designs", {
    horizontal: true,
    series: [{ label: "units sold", color: COLORS.teal }],
    valueFormat: axisNum,
    tipFormat: int
  })
  barChart("chart-payments-by-type", {
    series: [
      { label: "payments", color: COLORS.blue },
      { label: "paid", color: COLORS.green }
    ],
    valueFormat: axisNum,
    tipFormat: int,
    categoryTickLimit: {
      maxRotation: 0,
      // SALES_RECEIPT → two tick lines, so four types fit side by side (data.labels stay as received).
      callback(value) {
        const label = String(this.getLabelForValue(value) ?? "")
        return label.includes("_") ? label.split("_") : label
      }
    }
  })
  makeChart("chart-sales-over-time", {
    type: "line",
    data: {
      labels: [],
      datasets: [{
        label: `revenue per month ${REVENUE_NOTE}`,
        data: [],
        borderColor: COLORS.blue,
        backgroundColor: alpha(COLORS.blue, 0.1),
        borderWidth: 2,
        pointRadius: 2,
        tension: 0,
        spanGaps: false,
        fill: true
      }]
    },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 12 } },
        y: { beginAtZero: true, ticks: { callback: axisNum } }
      },
      plugins: {
        legend: { position: "top", align: "end" },
        tooltip: { callbacks: { label: (ctx) => `revenue: ${money(ctx.parsed.y)}` } }
      }
    }
  })

  /** Replace a chart's labels and dataset data in place, then redraw without animation. */
  const updateChart = (id, labels, datasetsData, extra) => {
    const chart = charts[id]
    if (!chart) return
    chart.data.labels = labels
    datasetsData.forEach((data, i) => {
      if (chart.data.datasets[i]) chart.data.datasets[i].data = data
    })
    if (extra) extra(chart)
    chart.update("none")
  }

  // ---------- health ----------

  const setTile = (id, value, text) => {
    const node = $(id)
    if (!node) return
    node.textContent = text
    node.dataset.value = value === null || value === undefined ? "" : String(value)
  }

  const renderAlerts = (alerts) => {
    const list = $("alert-list")
    list.replaceChildren(
      ...alerts.map((a) => el("li", { "data-alert-id": a?.id ?? "", text: a?.message ?? String(a?.id ?? "") }))
    )
    list.hidden = alerts.length === 0
    $("no-alerts").hidden = alerts.length !== 0
  }

  const renderSlot = (slot, now) => {
    $("slot-name").textContent = slot?.name ?? "?"
    const parts = []
    if (slot) {
      if (slot.exists === false) parts.push("missing")
      else {
        if (slot.active === true) parts.push("active")
        else if (slot.active === false) parts.push("inactive")
        if (slot.walStatus) parts.push(`wal ${slot.walStatus}`)
      }
    }
    const state = $("slot-state")
    state.textContent = parts.length ? `(${parts.join(", ")})` : ""
    state.classList.toggle("bad", !!slot && (slot.exists === false || slot.active === false || slot.walStatus === "lost"))
    $("updated").textContent = `updated ${hms(now)}`
    $("updated").dataset.value = isNum(now) ? String(now) : ""
  }

  const renderDeadLetters = (deadLetters) => {
    const node = $("dead-letters")
    const entries = deadLetters && typeof deadLetters === "object" ? Object.entries(deadLetters) : []
    if (entries.length === 0) {
      node.replaceChildren(el("span", { className: "ok", text: "none" }))
      return
    }
    node.replaceChildren(
      el("ul", { className: "dead-letter-list" },
        entries.map(([stage, n]) => el("li", { "data-stage": stage, "data-value": String(n), className: n > 0 ? "bad" : "", text: `${stage}: ${int(n)}` })))
    )
  }

  const renderSnapshot = (snapshot) => {
    const node = $("snapshot")
    if (!snapshot) {
      node.dataset.status = "none"
      node.replaceChildren(el("span", { className: "muted", text: "no snapshot recorded" }))
      return
    }
    node.dataset.status = snapshot.status
    if (snapshot.status === "running") {
      const bar = el("progress", { max: 100, title: isNum(snapshot.percent) ? `${dec1(snapshot.percent)} %` : "progress unknown" })
      if (isNum(snapshot.percent)) bar.value = Math.max(0, Math.min(100, snapshot.percent))
      const percent = isNum(snapshot.percent) ? `${dec1(snapshot.percent)}%` : "?"
      node.replaceChildren(
        el("div", { className: "snapshot-head" }, [
          el("span", { text: "running: " }),
          el("strong", { "data-testid": "snapshot-table", text: snapshot.table ?? "?" })
        ]),
        bar,
        el("div", { className: "snapshot-figures" }, [
          el("span", { "data-testid": "snapshot-rows", "data-value": String(snapshot.rows), text: `${int(snapshot.rows)} rows` }),
          isNum(snapshot.totalRows) ? el("span", { className: "muted", text: ` of ~${int(snapshot.totalRows)}` }) : "",
          el("span", { text: " · " }),
          el("span", { "data-testid": "snapshot-percent", "data-value": snapshot.percent === null ? "" : String(snapshot.percent), text: percent }),
          el("span", { text: " · " }),
          el("span", {
            "data-testid": "snapshot-rate",
            "data-value": snapshot.rowsPerSecond === null ? "" : String(snapshot.rowsPerSecond),
            text: `${isNum(snapshot.rowsPerSecond) ? int(snapshot.rowsPerSecond) : "?"} rows/s`
          })
        ])
      )
    } else if (snapshot.status === "complete") {
      node.replaceChildren(
        el("span", { className: "ok", "data-value": String(snapshot.rows), text: `snapshot complete: ${int(snapshot.rows)} rows at ${snapshot.completedAt}` })
      )
    } else {
      node.replaceChildren(el("span", { className: "muted", text: `snapshot: ${String(snapshot.status)}` }))
    }
  }

  const renderFreshness = (freshness) => {
    const labels = freshness.map((f) => (isNum(f.seconds) ? f.table : `${f.table} (snapshot only)`))
    const values = freshness.map((f) => (isNum(f.seconds) ? f.seconds : 0))
    const colors = freshness.map((f) =>
      !isNum(f.seconds) ? COLORS.grey : f.seconds > 300 ? COLORS.red : f.seconds > 60 ? COLORS.amber : COLORS.teal
    )
    updateChart("chart-freshness", labels, [values], (chart) => {
      chart.data.datasets[0].backgroundColor = colors.map((c) => alpha(c, 0.75))
      chart.data.datasets[0].borderColor = colors
    })
  }

  const renderHealth = (h) => {
    const samples = arr(h.samples)
    renderSlot(h.slot, h.now)
    renderAlerts(arr(h.alerts))

    const pick = (key) => samples.map((s) => (isNum(s?.[key]) ? s[key] : null))
    const times = () => samples.map((s) => hms(s?.at))
    updateChart("chart-slot", times(), [pick("slotRetainedWalBytes"), pick("slotLagBytes")])
    updateChart("chart-throughput", times(), [pick("capturedPerSecond"), pick("loadedPerSecond")])
    updateChart("chart-latency", times(), [pick("commitToWarehouseP50Ms"), pick("commitToWarehouseP99Ms")])
    renderFreshness(arr(h.freshness))

    const last = samples.length > 0 ? samples[samples.length - 1] : null
    const v = (key) => (last && isNum(last[key]) ? last[key] : null)
    setTile("tile-captured", v("capturedPerSecond"), dec1(v("capturedPerSecond")))
    setTile("tile-loaded", v("loadedPerSecond"), dec1(v("loadedPerSecond")))
    setTile("tile-p50", v("commitToWarehouseP50Ms"), v("commitToWarehouseP50Ms") === null ? "—" : `${int(v("commitToWarehouseP50Ms"))} ms`)
    setTile("tile-p99", v("commitToWarehouseP99Ms"), v("commitToWarehouseP99Ms") === null ? "—" : `${int(v("commitToWarehouseP99Ms"))} ms`)
    setTile("tile-slot-lag", v("slotLagBytes"), bytes(v("slotLagBytes")))
    $("tile-slot-lag-exact").textContent = v("slotLagBytes") === null ? "" : `${int(v("slotLagBytes"))} bytes`

    renderDeadLetters(h.deadLetters)
    renderSnapshot(h.snapshot ?? null)
  }

  // ---------- business ----------

  const renderBusiness = (b) => {
    const byCountry = arr(b.revenueByCountry)
    const topCountries = [...byCountry].sort((x, y) => (y.revenue ?? 0) - (x.revenue ?? 0)).slice(0, TOP_COUNTRIES_IN_CHART)
    updateChart("chart-revenue-by-country", topCountries.map((r) => r.country), [topCountries.map((r) => r.revenue)])
    setTableRows("table-revenue-by-country", byCountry.map((r) => el("tr", null, [el("td", { text: r.country }), numCell(r.revenue, money)])))

    const staff = arr(b.topStaff)
    updateChart("chart-top-staff", staff.map((r) => r.name), [staff.map((r) => r.revenue)])
    setTableRows("table-top-staff", staff.map((r) => el("tr", null, [el("td", { text: r.name }), numCell(r.revenue, money)])))

    const designs = arr(b.topDesigns)
    updateChart("chart-top-designs", designs.map((r) => r.design), [designs.map((r) => r.units)])
    setTableRows("table-top-designs", designs.map((r) => el("tr", null, [el("td", { text: r.design }), numCell(r.units, int)])))

    const payments = arr(b.paymentsByType)
    updateChart("chart-payments-by-type", payments.map((r) => r.type), [payments.map((r) => r.payments), payments.map((r) => r.paid)])
    setTableRows("table-payments-by-type", payments.map((r) =>
      el("tr", null, [el("td", { text: r.type }), numCell(r.payments, int), numCell(r.paid, int), numCell(r.amount, money)])))

    const months = arr(b.salesOverTime)
    updateChart("chart-sales-over-time", months.map((r) => r.month), [months.map((r) => (isNum(r.revenue) ? r.revenue : null))])
    setTableRows("table-sales-over-time", months.map((r) =>
      el("tr", null, [el("td", { text: r.month }), numCell(r.units, int), numCell(r.revenue, money)])))

    $("business-at").textContent = isNum(b.at) ? `as of ${hms(b.at)}` : ""
  }

  // ---------- polling ----------

  const failing = { health: false, business: false, render: null }
  const rendered = { health: false, business: false }

  const showNotice = () => {
    const notice = $("notice")
    const unreachable = failing.health || failing.business
    notice.hidden = !unreachable && !failing.render
    notice.textContent = unreachable ? "server unreachable, retrying" : failing.render ? `could not render: ${failing.render}` : ""
    document.body.classList.toggle("stale", unreachable)
  }

  const markReady = () => {
    if (rendered.health && rendered.business) document.body.dataset.ready = "true"
  }

  /** Fetch `url` as JSON, render it, then schedule the next poll `every` ms after this one finished. */
  const poll = (key, url, every, render) => {
    const once = async () => {
      let body
      try {
        const response = await fetch(url, { cache: "no-store", headers: { accept: "application/json" } })
        if (!response.ok) throw new Error(`HTTP ${response.status}`)
        body = await response.json()
        if (!body || typeof body !== "object") throw new Error("not a JSON object")
        failing[key] = false
      } catch {
        failing[key] = true
        body = undefined
      }
      if (body !== undefined) {
        state[key] = body
        try {
          render(body)
          rendered[key] = true
          failing.render = null
          markReady()
        } catch (error) {
          failing.render = error instanceof Error ? error.message : String(error)
        }
      }
      showNotice()
      setTimeout(once, every)
    }
    once()
  }

  const start = () => {
    poll("health", HEALTH_URL, HEALTH_EVERY_MS, renderHealth)
    poll("business", BUSINESS_URL, BUSINESS_EVERY_MS, renderBusiness)
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start, { once: true })
  else start()
})()
