/** The action ids the service accepts (docs/api.md): no `/`, no `..`, no spaces. */
export const ACTION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** What is wrong with `actionId` as an action id, or undefined when nothing is. */
export function actionIdProblem(actionId: string): string | undefined {
  if (!ACTION_ID_PATTERN.test(actionId)) {
    return 'must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$ (no "/", "..", or spaces)';
  }
  if (actionId.includes('..')) return 'must not contain ".."';
  return undefined;
}
