// A Mesos framework written with npm's mesos-framework 0.5.3 (an
// independent Mesos v1 scheduler implementation, JSON), unmodified: it
// subscribes to the master at MESOS_MASTER (host:port), launches TASKS
// command tasks running COMMAND (default "echo hello from $MESOS_TASK_ID")
// and exits 0 once every task is TASK_FINISHED (after TEARDOWN), 1 when a
// task ends otherwise, 2 when DEADLINE_SECONDS (default 90) pass first.
"use strict";

var lib = require("mesos-framework");
var Scheduler = lib.Scheduler;
var Mesos = lib.Mesos.getMesos();

var master = (process.env.MESOS_MASTER || "127.0.0.1:5050").split(":");
var tasks = parseInt(process.env.TASKS || "3", 10);
var command = process.env.COMMAND || "echo hello from $MESOS_TASK_ID";
var terminal = ["TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE"];

var scheduler = new Scheduler({
    "masterUrl": master[0],
    "port": parseInt(master[1], 10),
    "frameworkName": process.env.FRAMEWORK_NAME || "npm-mesos-framework",
    "masterConnectionTimeout": 60,
    "restartStates": [],
    "logging": {"level": process.env.LOG_LEVEL || "info"},
    "tasks": {
        "hello": {
            "instances": tasks,
            "commandInfo": new Mesos.CommandInfo(null, null, true, command, null, null),
            "resources": {"cpus": 0.1, "mem": 64, "ports": 0, "disk": 0}
        }
    }
});

var finished = {};
var done = false;

function exit(code, why) {
    if (done) {
        return;
    }
    done = true;
    console.log("RESULT " + code + ": " + why);
    if (code === 0) {
        scheduler.teardown();
    }
    setTimeout(function () { process.exit(code); }, 500);
}

scheduler.on("ready", function () {
    scheduler.subscribe();
});

scheduler.on("subscribed", function (obj) {
    console.log("SUBSCRIBED framework " + obj.frameworkId + " stream " + obj.mesosStreamId);
});

scheduler.on("update", function (update) {
    var st = update.status;
    console.log("UPDATE " + st.task_id.value + " " + st.state + (st.message ? " (" + st.message + ")" : ""));
    if (terminal.indexOf(st.state) < 0) {
        return;
    }
    if (st.state !== "TASK_FINISHED") {
        exit(1, "task " + st.task_id.value + " ended " + st.state);
        return;
    }
    finished[st.task_id.value] = true;
    if (Object.keys(finished).length === tasks) {
        exit(0, tasks + " tasks FINISHED");
    }
});

scheduler.on("error", function (err) {
    console.log("ERROR " + (err && err.message ? err.message : JSON.stringify(err)));
});

setTimeout(function () {
    exit(2, "deadline passed with " + Object.keys(finished).length + " of " + tasks + " tasks finished");
}, 1000 * parseInt(process.env.DEADLINE_SECONDS || "90", 10));
