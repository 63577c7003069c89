// moment-business-time on the cases bench/planning.py gives on stdin (local wall times of
// Mexico City, the contract's hours, mesa's holidays). Prints the deadlines and the time
// the arithmetic took.
const moment = require("moment");
require("moment-business-time");

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const hours = ["09:00:00", "18:00:00"];
moment.updateLocale("en", {
  workinghours: { 0: null, 1: hours, 2: hours, 3: hours, 4: hours, 5: hours, 6: null },
  holidays: input.holidays,
});
const starts = input.cases.map(([at]) => moment(at, "YYYY-MM-DDTHH:mm:ss"));
const began = process.hrtime.bigint();
const due = starts.map((m, i) => m.clone().addWorkingTime(input.cases[i][1], "hours"));
const seconds = Number(process.hrtime.bigint() - began) / 1e9;
process.stdout.write(JSON.stringify({ seconds, due: due.map((m) => m.format("YYYY-MM-DDTHH:mm:ss")) }));
