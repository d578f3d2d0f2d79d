"""Default first steps per measurement kind, shown under "what to do" until the plan's checklist takes over."""

from __future__ import annotations

from daemon.notify.model import ChecklistLine

_COMMON_END = ChecklistLine("在值班台确认报警并记录处置情况", "Acknowledge in the duty console and log what you do")

CHECKLISTS: dict[str, tuple[ChecklistLine, ...]] = {
    "gas": (
        ChecklistLine("核对相邻传感器和风向，判断是否为真实泄漏", "Check neighbours and wind: is it a real release?"),
        ChecklistLine("电话联系涉事企业值班室核实", "Call the plant's control room to confirm"),
        ChecklistLine("必要时通知下风向人员避险", "If confirmed, warn people downwind to shelter"),
        _COMMON_END,
    ),
    "gamma_dose_rate": (
        ChecklistLine("核对降雨情况和相邻站点是否同步升高", "Check rain and whether neighbouring stations rose too"),
        ChecklistLine("联系辐射安全专家研判", "Call the radiation safety expert"),
        _COMMON_END,
    ),
    "source_dose_rate": (
        ChecklistLine("联系持源单位核实放射源位置和状态", "Call the source's owner: where is it, is it shielded?"),
        ChecklistLine("联系辐射安全专家研判", "Call the radiation safety expert"),
        _COMMON_END,
    ),
    "tamper": (
        ChecklistLine("立即联系持源单位和属地公安核实", "Call the source's owner and local police at once"),
        _COMMON_END,
    ),
}
DEFAULT_CHECKLIST: tuple[ChecklistLine, ...] = (
    ChecklistLine("核实设备状态和读数是否可信", "Check the device's state and whether the reading is plausible"),
    _COMMON_END,
)


def checklist_for(kind: str) -> tuple[ChecklistLine, ...]:
    """The default checklist for a sensor kind."""
    return CHECKLISTS.get(kind, DEFAULT_CHECKLIST)
