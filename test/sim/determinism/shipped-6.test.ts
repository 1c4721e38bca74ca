import { shippedSuite } from './cases.js';

shippedSuite(5, 8);
