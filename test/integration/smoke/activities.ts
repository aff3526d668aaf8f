export function createSmokeActivities(workerId: string) {
  return {
    async greet(name: string): Promise<string> {
      return `hello ${name} from ${workerId}`;
    },
  };
}
